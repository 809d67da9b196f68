#!/usr/bin/env python3
"""API benchmark: the issue endpoints with 200 issues in a company.

With `wrk` installed (Debian package `wrk`), the GET endpoints are also measured by wrk, a client
that is not the bottleneck (the Python client is, at 16 connections on 2 shared cores).

Usage: python3 bench/api.py [--bin target/release/paperclipai] [--requests 1000]

Starts `paperclipai run` on a fresh embedded instance, creates a company, 16 agents and 200 issues,
then measures, sequentially and with 16 concurrent keep-alive connections:
GET /api/companies/:id/issues, GET /api/issues/:identifier, POST issue create, and checkout
races (16 agents race for one issue; exactly one must win). Prints median/p99 latency and
throughput. The client runs on the same 2 cores as the server and its PostgreSQL.
"""
import argparse, http.client, json, os, shutil, signal, socket, statistics, subprocess, tempfile, threading, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data else {}
        try:
            self.conn.request(method, "/api" + path, body=data, headers=headers)
            r = self.conn.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closes keep-alive connections idle for 10 s: reconnect, as browsers do.
            self.conn.close()
            self.conn.request(method, "/api" + path, body=data, headers=headers)
            r = self.conn.getresponse()
        payload = r.read()
        return r.status, payload


def run_seq(port, n, make):
    c = Client(port); lat = []
    t0 = time.perf_counter()
    for i in range(n):
        m, p, b = make(i)
        s = time.perf_counter(); st, _ = c.call(m, p, b); lat.append(time.perf_counter() - s)
        assert st < 400, (st, p)
    return lat, time.perf_counter() - t0


def run_conc(port, n, make, conns=16):
    lat = []; lock = threading.Lock(); counter = iter(range(n)); clock = threading.Lock()
    def worker():
        c = Client(port); mine = []
        while True:
            with clock:
                i = next(counter, None)
            if i is None:
                break
            m, p, b = make(i)
            s = time.perf_counter(); st, _ = c.call(m, p, b); mine.append(time.perf_counter() - s)
            assert st < 400, (st, p)
        with lock:
            lat.extend(mine)
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    [t.start() for t in ts]; [t.join() for t in ts]
    return lat, time.perf_counter() - t0


def row(name, lat, elapsed):
    lat = sorted(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return f"| {name} | {len(lat)} | {statistics.median(lat)*1000:.2f} | {p99*1000:.2f} | {len(lat)/elapsed:.0f} |"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--requests", type=int, default=1000)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="paperclip-apibench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()))
    proc = subprocess.Popen([args.bin, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if Client(port).call("GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.02)
        c = Client(port)
        _, body = c.call("POST", "/companies", {"name": "Bench"}); cid = json.loads(body)["id"]
        agents = [json.loads(c.call("POST", f"/companies/{cid}/agents", {"name": f"Agent {i}", "role": "engineer"})[1])["id"] for i in range(16)]
        for i in range(200):
            c.call("POST", f"/companies/{cid}/issues", {"title": f"Issue {i}", "description": "Benchmark issue " * 20, "priority": ["low", "medium", "high", "critical"][i % 4]})
        st, listing = c.call("GET", f"/companies/{cid}/issues")
        assert len(json.loads(listing)) == 200
        n = args.requests
        rows = []
        lst = lambda i: ("GET", f"/companies/{cid}/issues", None)
        one = lambda i: ("GET", f"/issues/BEN-{(i % 200) + 1}", None)
        new = lambda i: ("POST", f"/companies/{cid}/issues", {"title": f"New {i}", "priority": "medium"})
        rows.append(row("GET /companies/:id/issues (200 issues), sequential", *run_seq(port, n // 4, lst)))
        rows.append(row("GET /companies/:id/issues (200 issues), 16 connections", *run_conc(port, n, lst)))
        rows.append(row("GET /issues/:identifier, sequential", *run_seq(port, n, one)))
        rows.append(row("GET /issues/:identifier, 16 connections", *run_conc(port, n * 2, one)))
        if shutil.which("wrk"):
            for name, path, extra in [
                ("GET /companies/:id/issues (200 issues), wrk 16 connections", f"/api/companies/{cid}/issues?limit=200", []),
                ("same, gzip", f"/api/companies/{cid}/issues?limit=200", ["-H", "Accept-Encoding: gzip"]),
                ("GET /issues/:identifier, wrk 16 connections", "/api/issues/BEN-7", []),
            ]:
                out = subprocess.run(["wrk", "-t2", "-c16", "-d5s", "--latency", *extra, f"http://127.0.0.1:{port}{path}"],
                                     capture_output=True, text=True).stdout
                pct = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().startswith(("50%", "99%"))}
                rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec"))
                total = next(l.split()[0] for l in out.splitlines() if "requests in" in l)
                rows.append(f"| {name} | {total} | {pct.get('50%')} | {pct.get('99%')} | {float(rps):.0f} |")
        rows.append(row("POST /companies/:id/issues, sequential", *run_seq(port, n // 2, new)))
        rows.append(row("POST /companies/:id/issues, 16 connections", *run_conc(port, n, new)))
        # Checkout races: 16 agents race for each issue.
        races = 50; race_lat = []; winners_ok = True
        clients = [Client(port) for _ in range(16)]
        for r in range(races):
            _, b = c.call("POST", f"/companies/{cid}/issues", {"title": f"Race {r}", "status": "todo"}); iid = json.loads(b)["id"]
            results = [None] * 16; barrier = threading.Barrier(16)
            def racer(k):
                barrier.wait(); s = time.perf_counter()
                st, _ = clients[k].call("POST", f"/issues/{iid}/checkout", {"agentId": agents[k], "expectedStatuses": ["todo"]})
                results[k] = (st, time.perf_counter() - s)
            t0 = time.perf_counter()
            ts = [threading.Thread(target=racer, args=(k,)) for k in range(16)]
            [t.start() for t in ts]; [t.join() for t in ts]
            race_lat.append(time.perf_counter() - t0)
            wins = sum(1 for st, _ in results if st == 200)
            winners_ok &= wins == 1 and all(st in (200, 409) for st, _ in results)
        rows.append(row("checkout race (16 agents, one issue), whole race", race_lat, sum(race_lat)))
        if shutil.which("wrk") and shutil.which("psql"):
            # A large company: 20,000 more issues, then the same list (the index must keep LIMIT cheap).
            root = os.path.join(home, "instances", "default")
            creds = json.load(open(os.path.join(root, "secrets", "embedded-postgres.json")))
            pg_port = open(os.path.join(root, "db", "postmaster.pid")).read().splitlines()[3].strip()
            subprocess.run(["psql", "-h", "127.0.0.1", "-p", pg_port, "-U", creds["user"], "-d", "paperclip", "-q", "-c",
                            f"INSERT INTO issues (company_id, title, description, issue_number, identifier, priority) "
                            f"SELECT '{cid}', 'bulk ' || g, repeat('x', 320), 100000 + g, 'BEN-' || (100000 + g), "
                            f"(ARRAY['low','medium','high','critical'])[1 + g % 4] FROM generate_series(1, 20000) g; ANALYZE issues;"],
                           env=dict(os.environ, PGPASSWORD=creds["password"]), check=True)
            out = subprocess.run(["wrk", "-t2", "-c16", "-d5s", "--latency", f"http://127.0.0.1:{port}/api/companies/{cid}/issues?limit=200"],
                                 capture_output=True, text=True).stdout
            pct = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().startswith(("50%", "99%"))}
            rps = next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec"))
            total = next(l.split()[0] for l in out.splitlines() if "requests in" in l)
            rows.append(f"| GET /companies/:id/issues?limit=200 with 21,700 issues in the company, wrk 16 connections | {total} | {pct.get('50%')} | {pct.get('99%')} | {float(rps):.0f} |")
        gz = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        gz.request("GET", f"/api/companies/{cid}/issues?limit=200", headers={"accept-encoding": "gzip"})
        gz_resp = gz.getresponse(); gz_size = len(gz_resp.read()); gz_enc = gz_resp.getheader("content-encoding")
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
        print("| operation | requests | median ms | p99 ms | req/s |")
        print("| --- | --- | --- | --- | --- |")
        for r in rows:
            print(r)
        print()
        print(f"list response for 200 issues: {len(listing)/1024:.1f} KiB ({gz_size/1024:.1f} KiB with {gz_enc}); every race had exactly one winner: {winners_ok}; server RSS after the run: {rss:.1f} MiB")
    finally:
        proc.send_signal(signal.SIGINT); proc.wait(timeout=60)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
