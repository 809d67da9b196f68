#!/usr/bin/env python3
"""Company-scale benchmark: every board read on a company of 1,000 agents, 100,000 issues and
1,000,000 activity rows, idle and beside a writer, at 1 and 8 clients.

Usage: python3 bench/scale.py [--bin target/release/paperclipai] [--seconds 3] [--soak 0]

Starts `paperclipai run` on a fresh embedded instance. The API makes the company, its CEO, a
project, a sample issue with comments and ten agents; bulk SQL fills the rest (989 more agents in
a ten-way tree under the CEO, 100,000 issues over every status, priority and half of the agents,
1,000,000 activity rows, 20,000 heartbeat runs, 100,000 cost events), then VACUUM ANALYZE, as
autovacuum would after the fill. Then, for each read:

- clients 1 and 8, idle and with a writer beside them. The writer, a process of its own, paces
  ~50 writes/s: an issue create, then a checkout of that issue by one of the agents. Every
  client holds one keep-alive connection and sends requests back to back for --seconds.
- p50/p99 of the time to the last byte, requests per second, and the body size.

With --explain it measures nothing: it restarts the server with PostgreSQL's auto_explain, sends
each read once and checks the actual plan of every statement the server ran meanwhile (the reads'
and background rounds'): no plan node may touch more than --max-rows rows (rows it returned plus
rows its filters removed, times its loops). A missing index shows as a failure (exit 1) naming
the statement and the node, not as a slow page later.

With --uncached every request carries a query parameter of its own, so the server computes
each answer instead of reusing one kept at an unchanged database snapshot: the cost of a read
when the data changes under it every time.

Then the issue list at 16 connections with wrk (Debian's `wrk`), full and compact, the writer's
own latencies, and with --soak N the dashboard's p99 per 30 s window over N seconds of writes
(does it drift as autovacuum works?). Needs psql (the embedded cluster's credentials are read
from the instance).
"""
import argparse, http.client, json, multiprocessing as mp, os, shutil, signal, socket, statistics, subprocess, tempfile, time

UPSTREAM_LIST_16 = 215  # upstream 2026.916.1, same machine, issue list at 16 connections (req/s)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    data = json.dumps(body).encode() if body is not None else None
    h = {"content-type": "application/json"} if data else {}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse(); payload = r.read(); c.close()
    return r.status, payload


def pct(lat, q):
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(len(lat) * q))] * 1000 if lat else float("nan")


def reader(port, path, seconds, out, uncached=False):
    """Requests back to back on one connection until the deadline; puts the latencies. With
    `uncached`, each request carries a query parameter of its own, so no kept answer serves it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    lat = []; size = 0; end = time.perf_counter() + seconds
    sep = "&" if "?" in path else "?"
    while True:
        s = time.perf_counter()
        if s >= end:
            break
        conn.request("GET", f"{path}{sep}_={len(lat)}-{os.getpid()}" if uncached else path)
        r = conn.getresponse(); body = r.read()
        lat.append(time.perf_counter() - s)
        if r.status != 200:
            out.put(("error", path, r.status, body[:300].decode(errors="replace"))); return
        size = len(body)
    out.put(("ok", lat, size))


def writer(port, cid, agents, stop, out, rate):
    """~rate writes/s: create an issue (todo), then check it out for one of the agents."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    creates = []; checkouts = []; errors = 0; i = 0
    interval = 2.0 / rate; nxt = time.perf_counter()
    def post(path, body):
        conn.request("POST", path, body=json.dumps(body), headers={"content-type": "application/json"})
        r = conn.getresponse(); return r.status, r.read()
    while not stop.is_set():
        i += 1
        s = time.perf_counter()
        st, b = post(f"/api/companies/{cid}/issues", {"title": f"Written under load {i}", "status": "todo", "priority": "medium"})
        creates.append(time.perf_counter() - s)
        if st != 201:
            errors += 1
        else:
            iid = json.loads(b)["id"]
            s = time.perf_counter()
            st, _ = post(f"/api/issues/{iid}/checkout", {"agentId": agents[i % len(agents)], "expectedStatuses": ["todo"]})
            checkouts.append(time.perf_counter() - s)
            errors += st != 200
        nxt += interval
        time.sleep(max(0.0, nxt - time.perf_counter()))
    out.put((creates, checkouts, errors))


UNCACHED = False


def measure(port, path, clients, seconds):
    q = mp.Queue()
    ps = [mp.Process(target=reader, args=(port, path, seconds, q, UNCACHED)) for _ in range(clients)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    errs = [r for r in res if r[0] == "error"]
    if errs:
        raise SystemExit(f"read failed: {errs[0]}")
    lat = [x for r in res for x in r[1]]
    return lat, res[0][2], len(lat) / seconds


class Writer:
    def __init__(self, port, cid, agents, rate):
        self.q = mp.Queue(); self.stop = mp.Event()
        self.p = mp.Process(target=writer, args=(port, cid, agents, self.stop, self.q, rate))

    def __enter__(self):
        self.t0 = time.perf_counter(); self.p.start(); return self

    def __exit__(self, *exc):
        self.stop.set(); self.result = self.q.get(); self.p.join()
        self.seconds = time.perf_counter() - self.t0


def wrk(port, path, seconds, extra=()):
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", *extra, f"http://127.0.0.1:{port}{path}"],
                         capture_output=True, text=True).stdout
    p = {l.split()[0]: l.split()[1] for l in out.splitlines() if l.strip().startswith(("50%", "99%"))}
    rps = float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")))
    non2xx = next((l for l in out.splitlines() if "Non-2xx" in l), "")
    return p.get("50%"), p.get("99%"), rps, non2xx


def psql(home, *sql):
    """Runs statements in the instance's embedded cluster as its superuser."""
    root = os.path.join(home, "instances", "default")
    creds = json.load(open(os.path.join(root, "secrets", "embedded-postgres.json")))
    pg_port = open(os.path.join(root, "db", "postmaster.pid")).read().splitlines()[3].strip()
    cmd = ["psql", "-h", "127.0.0.1", "-p", pg_port, "-U", creds["user"], "-d", "paperclip", "-q", "-v", "ON_ERROR_STOP=1"]
    for q in sql:
        cmd += ["-c", q]
    subprocess.run(cmd, env=dict(os.environ, PGPASSWORD=creds["password"]), check=True)


def fill(home, cid, ceo, sample, project):
    sql = f"""
    INSERT INTO agents (company_id, name, role, title, url_key, adapter_type, adapter_config, runtime_config, status)
      SELECT '{cid}', 'Agent ' || g, 'engineer', 'Engineer ' || g, 'agent-' || g, 'process', '{{"command":"true"}}',
             '{{"heartbeat":{{"enabled":false}}}}', (ARRAY['idle','active','paused','error'])[1 + g % 4]
      FROM generate_series(11, 999) g;
    -- A ten-way tree: agent g reports to agent g / 10, agents 1..9 to the CEO.
    UPDATE agents a SET reports_to = coalesce(p.id, '{ceo}')
      FROM (SELECT id, substring(url_key from 7)::int AS g FROM agents WHERE company_id = '{cid}' AND url_key LIKE 'agent-%') me
      LEFT JOIN agents p ON p.company_id = '{cid}' AND p.url_key = 'agent-' || (me.g / 10) AND me.g >= 10
      WHERE a.id = me.id;
    CREATE TEMP TABLE ids AS SELECT array_agg(id ORDER BY id) AS a FROM agents WHERE company_id = '{cid}';
    INSERT INTO issues (company_id, title, description, issue_number, identifier, priority, status, assignee_agent_id, project_id)
      SELECT '{cid}', 'Bulk issue ' || g, repeat('x', 320), 1000 + g, 'SCA-' || (1000 + g),
             (ARRAY['low','medium','high','critical'])[1 + g % 4],
             (ARRAY['backlog','todo','in_review','done','cancelled','blocked','in_progress'])[1 + g % 7],
             CASE WHEN g % 7 = 6 OR g % 2 = 0 THEN (SELECT a FROM ids)[1 + g % 1000] END,
             CASE WHEN g % 10 = 0 THEN '{project}'::uuid END
      FROM generate_series(1, 100000) g;
    UPDATE companies SET issue_counter = 101000 WHERE id = '{cid}';
    INSERT INTO activity_log (company_id, actor_type, actor_id, action, entity_type, entity_id, agent_id, details, created_at)
      SELECT '{cid}', 'agent', (SELECT a FROM ids)[1 + g % 1000]::text,
             (ARRAY['issue.updated','issue.comment_added','issue.checked_out','agent.updated'])[1 + g % 4],
             'issue', '{sample}', (SELECT a FROM ids)[1 + g % 1000], '{{"identifier":"SCA-1"}}',
             now() - (g || ' seconds')::interval
      FROM generate_series(1, 1000000) g;
    INSERT INTO heartbeat_runs (company_id, agent_id, invocation_source, status, started_at, finished_at, created_at)
      SELECT '{cid}', (SELECT a FROM ids)[1 + g % 1000], 'timer', (ARRAY['succeeded','failed','cancelled'])[1 + g % 3],
             now() - (g * 60 || ' seconds')::interval, now() - (g * 60 - 30 || ' seconds')::interval,
             now() - (g * 60 || ' seconds')::interval
      FROM generate_series(1, 20000) g;
    INSERT INTO cost_events (company_id, agent_id, project_id, provider, model, input_tokens, output_tokens, cost_cents, occurred_at)
      SELECT '{cid}', (SELECT a FROM ids)[1 + g % 1000], CASE WHEN g % 3 = 0 THEN '{project}'::uuid END,
             'anthropic', 'claude', 1000, 200, 1 + g % 5, date_trunc('month', now()) + ((g % 86400) || ' seconds')::interval
      FROM generate_series(1, 100000) g;
    """
    t0 = time.time()
    psql(home, sql, "VACUUM ANALYZE")
    return time.time() - t0


def start(binary, env, port):
    proc = subprocess.Popen([binary, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(1200):
        try:
            if call(port, "GET", "/api/health")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not start")


def stop(proc):
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)


def plans(log, start_at):
    """The auto_explain plans logged after byte `start_at` of the PostgreSQL log."""
    with open(log, "rb") as f:
        f.seek(start_at)
        text = f.read().decode(errors="replace")
    dec = json.JSONDecoder()
    out = []
    at = text.find("plan:")
    while at >= 0:
        brace = text.find("{", at)
        try:
            doc, end = dec.raw_decode(text, brace)
            out.append(doc)
        except ValueError:
            end = brace + 1
        at = text.find("plan:", end)
    return out


def widest(node):
    """(rows touched, node type, relation) of the plan node that touches the most rows."""
    loops = max(1, node.get("Actual Loops", 1))
    touched = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
               + node.get("Rows Removed by Index Recheck", 0) + node.get("Rows Removed by Join Filter", 0)) * loops
    best = (touched, node.get("Node Type", "?"), node.get("Relation Name") or node.get("Index Name") or "")
    for child in node.get("Plans", []):
        best = max(best, widest(child))
    return best


def explain(args, env, port, home, reads, proc):
    """Restarts the server (`proc`) with auto_explain and checks the plans behind each read."""
    psql(home, "LOAD 'auto_explain'", "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
         "ALTER SYSTEM SET auto_explain.log_min_duration = 0", "ALTER SYSTEM SET auto_explain.log_analyze = on",
         "ALTER SYSTEM SET auto_explain.log_format = 'json'", "ALTER SYSTEM SET auto_explain.log_nested_statements = on")
    stop(proc)
    proc = start(args.bin, env, port)
    log = os.path.join(home, "instances", "default", "logs", "postgres.log")
    failures = 0
    print(f"| read | statements | most rows one plan node touched | node | verdict (limit {args.max_rows:,}) |")
    print("| --- | --- | --- | --- | --- |")
    try:
        for name, path in reads:
            call(port, "GET", path)  # warm: prepared statements, caches
            time.sleep(0.2)
            mark = os.path.getsize(log)
            # A query parameter of its own: the server computes the answer (none kept serves it).
            st, _ = call(port, "GET", f"{path}{'&' if '?' in path else '?'}_=explain")
            assert st == 200, (name, st)
            time.sleep(0.3)  # the log is written by the backend; let it land
            found = plans(log, mark)
            worst = max(((widest(p["Plan"]), p.get("Query Text", "")) for p in found), default=((0, "-", ""), ""))
            (rows, node, rel), query = worst
            ok = rows <= args.max_rows
            failures += not ok
            print(f"| {name} | {len(found)} | {rows:,} | {node} {rel} | {'ok' if ok else 'TOO MANY'} |", flush=True)
            if not ok:
                print(f"\n    {' '.join(query.split())[:600]}\n")
    finally:
        stop(proc)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rate", type=float, default=50, help="writer's writes per second")
    ap.add_argument("--soak", type=int, default=0, help="seconds of writes for the dashboard drift table")
    ap.add_argument("--only", help="comma-separated read names to measure (default: all)")
    ap.add_argument("--explain", action="store_true", help="check every read's plans instead of timing them")
    ap.add_argument("--max-rows", type=int, default=5000, help="with --explain: most rows one plan node may touch")
    ap.add_argument("--uncached", action="store_true",
                    help="every read computed (a query parameter of its own defeats the kept answers)")
    args = ap.parse_args()
    global UNCACHED
    UNCACHED = args.uncached
    home = tempfile.mkdtemp(prefix="paperclip-scalebench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()))
    proc = start(args.bin, env, port)
    try:
        def api(method, path, body=None):
            st, b = call(port, method, "/api" + path, body)
            assert st in (200, 201), (path, st, b[:300])
            return json.loads(b)
        cid = api("POST", "/companies", {"name": "Scale Co", "budgetMonthlyCents": 100000000})["id"]
        quiet = {"heartbeat": {"enabled": False, "wakeOnAssignment": False, "wakeOnOnDemand": False}}
        ceo = api("POST", f"/companies/{cid}/agents", {"name": "CEO", "role": "ceo", "adapterType": "process",
                                                       "adapterConfig": {"command": "true"}, "runtimeConfig": quiet})["id"]
        sample_agents = [api("POST", f"/companies/{cid}/agents", {
            "name": f"Agent {g}", "role": "engineer", "reportsTo": ceo, "adapterType": "process",
            "adapterConfig": {"command": "true"}, "runtimeConfig": quiet})["id"] for g in range(1, 11)]
        project = api("POST", f"/companies/{cid}/projects", {"name": "Platform"})["id"]
        sample = api("POST", f"/companies/{cid}/issues", {"title": "Sample issue", "description": "# Hello\n\nA **sample**."})["id"]
        for i in range(20):
            api("POST", f"/issues/{sample}/comments", {"body": f"Comment {i} with `code`."})
        took = fill(home, cid, ceo, sample, project)
        agent = sample_agents[3]
        reads = [
            ("health", "/api/health"),
            ("dashboard", f"/api/companies/{cid}/dashboard"),
            ("sidebar badges", f"/api/companies/{cid}/sidebar-badges"),
            ("agents (1,000)", f"/api/companies/{cid}/agents"),
            ("agents, view=summary", f"/api/companies/{cid}/agents?view=summary"),
            ("agent", f"/api/agents/{agent}"),
            ("org tree", f"/api/companies/{cid}/org"),
            ("issues", f"/api/companies/{cid}/issues"),
            ("issues, view=compact", f"/api/companies/{cid}/issues?view=compact"),
            ("issues, status=todo,in_progress", f"/api/companies/{cid}/issues?status=todo,in_progress"),
            ("issues, assignee", f"/api/companies/{cid}/issues?assigneeAgentId={agent}"),
            ("issues, project", f"/api/companies/{cid}/issues?projectId={project}"),
            ("issues, q=", f"/api/companies/{cid}/issues?q=Bulk%20issue%207771"),
            ("activity", f"/api/companies/{cid}/activity"),
            ("activity, agent", f"/api/companies/{cid}/activity?agentId={agent}"),
            ("costs summary", f"/api/companies/{cid}/costs/summary"),
            ("costs by agent", f"/api/companies/{cid}/costs/by-agent"),
            ("runs", f"/api/companies/{cid}/heartbeat-runs"),
            ("live runs", f"/api/companies/{cid}/live-runs"),
            ("board: dashboard page", f"/c/{cid}"),
            ("board: agents page", f"/c/{cid}/agents"),
            ("board: issues page", f"/c/{cid}/issues"),
            ("board: kanban", f"/c/{cid}/issues?view=board"),
            ("board: issue page", f"/c/{cid}/issues/{sample}"),
            ("board: agent page", f"/c/{cid}/agents/{agent}"),
            ("board: org page", f"/c/{cid}/org"),
            ("board: activity page", f"/c/{cid}/activity"),
            ("board: costs page", f"/c/{cid}/costs"),
            ("board: approvals page", f"/c/{cid}/approvals"),
            ("board: projects page", f"/c/{cid}/projects"),
            ("board: goals page", f"/c/{cid}/goals"),
        ]
        if args.only:
            keep = set(args.only.split(","))
            reads = [r for r in reads if r[0] in keep]
        print(f"filled 1,000 agents, 100,000 issues, 1,000,000 activity rows, 20,000 runs, 100,000 cost events in {took:.0f} s")
        print()
        if args.explain:
            failures = explain(args, env, port, home, reads, proc)
            proc = None
            print(f"\n{failures} read(s) over the limit" if failures else "\nevery read within the limit")
            raise SystemExit(1 if failures else 0)
        print("| read | body KiB | 1 client idle p50 / p99 ms | 8 idle p50 / p99 ms, req/s | 1 under writes p99 ms | 8 under writes p50 / p99 ms, req/s |")
        print("| --- | --- | --- | --- | --- | --- |")
        writes = []
        worst = 0.0
        for name, path in reads:
            for _ in range(3):
                call(port, "GET", path)  # warm
            l1, size, _ = measure(port, path, 1, args.seconds)
            l8, _, r8 = measure(port, path, 8, args.seconds)
            with Writer(port, cid, sample_agents, args.rate) as w:
                w1, _, _ = measure(port, path, 1, args.seconds)
                w8, _, rw8 = measure(port, path, 8, args.seconds)
            writes.append(w)
            worst = max(worst, pct(w8, 0.99))
            print(f"| {name} | {size/1024:.1f} | {pct(l1, .5):.1f} / {pct(l1, .99):.1f} | {pct(l8, .5):.1f} / {pct(l8, .99):.1f}, {r8:.0f} "
                  f"| {pct(w1, .99):.1f} | {pct(w8, .5):.1f} / {pct(w8, .99):.1f}, {rw8:.0f} |", flush=True)
        print()
        print(f"worst p99 of any read at 8 clients under writes: {worst:.1f} ms")
        creates = [x for w in writes for x in w.result[0]]
        checkouts = [x for w in writes for x in w.result[1]]
        errors = sum(w.result[2] for w in writes)
        secs = sum(w.seconds for w in writes)
        print()
        print("| writer beside the readers | writes | p50 ms | p99 ms | max ms | writes/s |")
        print("| --- | --- | --- | --- | --- | --- |")
        print(f"| issue create | {len(creates)} | {pct(creates, .5):.1f} | {pct(creates, .99):.1f} | {max(creates)*1000:.1f} | {(len(creates) + len(checkouts)) / secs:.0f} (with checkouts) |")
        print(f"| issue checkout | {len(checkouts)} | {pct(checkouts, .5):.1f} | {pct(checkouts, .99):.1f} | {max(checkouts)*1000:.1f} | |")
        print(f"writer errors: {errors}")
        if shutil.which("wrk"):
            print()
            print("| issue list (limit 200 of 100,000+), wrk 16 connections | p50 | p99 | req/s | × upstream (215 req/s) |")
            print("| --- | --- | --- | --- | --- |")
            for name, path, extra in [("full", f"/api/companies/{cid}/issues?limit=200", ()),
                                      ("view=compact", f"/api/companies/{cid}/issues?limit=200&view=compact", ()),
                                      ("full, gzip", f"/api/companies/{cid}/issues?limit=200", ("-H", "Accept-Encoding: gzip"))]:
                p50, p99, rps, non2xx = wrk(port, path, max(5, int(args.seconds * 2)), extra)
                print(f"| {name} | {p50} | {p99} | {rps:.0f} | {rps / UPSTREAM_LIST_16:.1f}× | {non2xx}")
        else:
            print("\n(wrk not installed: apt-get install wrk for the 16-connection issue list rows)")
        if args.soak:
            print()
            print("| dashboard under writes, 8 clients | p50 ms | p99 ms | req/s |")
            print("| --- | --- | --- | --- |")
            with Writer(port, cid, sample_agents, args.rate):
                for k in range(max(1, args.soak // 30)):
                    lat, _, rps = measure(port, f"/api/companies/{cid}/dashboard", 8, 30)
                    print(f"| {30 * k}–{30 * (k + 1)} s | {pct(lat, .5):.1f} | {pct(lat, .99):.1f} | {rps:.0f} |", flush=True)
        with open(f"/proc/{proc.pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS")) / 1024
        print()
        print(f"server RSS after the run: {rss:.1f} MiB")
    finally:
        if proc:
            stop(proc)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
