#!/usr/bin/env python3
"""Board page benchmark on a company of 1,000 agents and 100,000 issues.

Usage: python3 bench/board.py [--bin target/release/paperclipai] [--requests 200]

Starts `paperclipai run` on a fresh embedded instance, creates a company, its CEO and a few
issues through the API, fills the rest with bulk SQL (1,000 agents reporting to the CEO in a
tree, 100,000 issues over every status and priority, 2,000 activity rows; then VACUUM ANALYZE, as
autovacuum would after that many inserts), then fetches each
board page sequentially and prints p50/p99 of the time to the last byte, and the body size
(plain and gzip). Needs psql (the embedded cluster's credentials are read from the instance).
"""
import argparse, gzip, http.client, json, os, shutil, signal, socket, statistics, subprocess, tempfile, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    h = {"content-type": "application/json"} if data else {}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse(); payload = r.read(); c.close()
    return r.status, payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--probe", action="store_true", help="also time the API's per-status issue lists")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="paperclip-boardbench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()))
    proc = subprocess.Popen([args.bin, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if call(port, "GET", "/api/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        _, b = call(port, "POST", "/api/companies", {"name": "Scale Co", "budgetMonthlyCents": 1000000})
        cid = json.loads(b)["id"]
        _, b = call(port, "POST", f"/api/companies/{cid}/agents",
                    {"name": "CEO", "role": "ceo", "adapterType": "process", "adapterConfig": {"command": "true"},
                     "runtimeConfig": {"heartbeat": {"enabled": False}}})
        ceo = json.loads(b)["id"]
        _, b = call(port, "POST", f"/api/companies/{cid}/issues", {"title": "Sample issue", "description": "# Hello\n\nA **sample**."})
        sample = json.loads(b)["id"]
        for i in range(20):
            call(port, "POST", f"/api/issues/{sample}/comments", {"body": f"Comment {i} with `code` and a [link](https://example.com)."})
        root = os.path.join(home, "instances", "default")
        creds = json.load(open(os.path.join(root, "secrets", "embedded-postgres.json")))
        pg_port = open(os.path.join(root, "db", "postmaster.pid")).read().splitlines()[3].strip()
        sql = f"""
        INSERT INTO agents (company_id, name, role, title, url_key, adapter_type, adapter_config, runtime_config, status, reports_to)
          SELECT '{cid}', 'Agent ' || g, 'engineer', 'Engineer ' || g, 'agent-' || g, 'process', '{{"command":"true"}}',
                 '{{"heartbeat":{{"enabled":false}}}}', (ARRAY['idle','active','paused','error'])[1 + g % 4], '{ceo}'
          FROM generate_series(1, 999) g;
        INSERT INTO issues (company_id, title, description, issue_number, identifier, priority, status, assignee_agent_id)
          SELECT '{cid}', 'Bulk issue ' || g, repeat('x', 320), 1000 + g, 'SCA-' || (1000 + g),
                 (ARRAY['low','medium','high','critical'])[1 + g % 4],
                 (ARRAY['backlog','todo','in_review','done','cancelled','blocked'])[1 + g % 6], NULL
          FROM generate_series(1, 100000) g;
        UPDATE companies SET issue_counter = 101000 WHERE id = '{cid}';
        INSERT INTO activity_log (company_id, actor_type, actor_id, action, entity_type, entity_id, details)
          SELECT '{cid}', 'user', 'local-board', 'issue.updated', 'issue', '{sample}', '{{"identifier":"SCA-1"}}'
          FROM generate_series(1, 2000) g;
        """
        t0 = time.time()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", pg_port, "-U", creds["user"], "-d", "paperclip", "-q",
                        "-v", "ON_ERROR_STOP=1", "-c", sql, "-c", "VACUUM ANALYZE"],
                       env=dict(os.environ, PGPASSWORD=creds["password"]), check=True)
        fill = time.time() - t0
        _, b = call(port, "GET", f"/api/companies/{cid}/agents")
        agent = json.loads(b)[500]["id"]
        pages = [
            ("dashboard", f"/c/{cid}"),
            ("agent list", f"/c/{cid}/agents"),
            ("agent list, page 10", f"/c/{cid}/agents?offset=500"),
            ("agent", f"/c/{cid}/agents/{agent}"),
            ("org chart (1,000 agents)", f"/c/{cid}/org"),
            ("issue list", f"/c/{cid}/issues"),
            ("issue list, status=todo", f"/c/{cid}/issues?status=todo"),
            ("issue list, search", f"/c/{cid}/issues?q=Bulk%20issue%2077"),
            ("issue board (kanban)", f"/c/{cid}/issues?view=board"),
            ("issue with 20 comments", f"/c/{cid}/issues/{sample}"),
            ("activity", f"/c/{cid}/activity"),
            ("settings", f"/c/{cid}/settings"),
        ]
        if args.probe:
            for st in ["backlog", "todo", "in_progress", "in_review", "blocked", "done", "cancelled"]:
                t = time.perf_counter()
                for _ in range(20):
                    call(port, "GET", f"/api/companies/{cid}/issues?status={st}&limit=26")
                print(f"probe status={st}: {(time.perf_counter() - t) / 20 * 1000:.1f} ms")
            for path in [f"/api/companies/{cid}/dashboard", f"/api/companies/{cid}/agents"]:
                t = time.perf_counter()
                for _ in range(20):
                    call(port, "GET", path)
                print(f"probe {path}: {(time.perf_counter() - t) / 20 * 1000:.1f} ms")
        print(f"filled 999 agents, 100,000 issues, 2,000 activity rows in {fill:.1f} s")
        print()
        print("| page | requests | p50 ms | p99 ms | body KiB | gzip KiB |")
        print("| --- | --- | --- | --- | --- | --- |")
        for name, path in pages:
            for _ in range(5):
                call(port, "GET", path)  # warm
            lat = []
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            for _ in range(args.requests):
                s = time.perf_counter()
                conn.request("GET", path)
                r = conn.getresponse(); body = r.read()
                lat.append(time.perf_counter() - s)
                assert r.status == 200, (path, r.status, body[:200])
            conn.close()
            lat.sort()
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            gz = len(gzip.compress(body, 1))
            print(f"| {name} | {len(lat)} | {statistics.median(lat)*1000:.1f} | {p99*1000:.1f} | {len(body)/1024:.1f} | {gz/1024:.1f} |")
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
        print()
        print(f"server RSS after the run: {rss:.1f} MiB")
    finally:
        proc.send_signal(signal.SIGINT); proc.wait(timeout=60)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
