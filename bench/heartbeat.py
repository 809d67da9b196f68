#!/usr/bin/env python3
"""Heartbeat engine benchmark.

Usage: python3 bench/heartbeat.py [--bin target/release/paperclipai] [--wakeups 200]

Starts `paperclipai run` on a fresh embedded instance and measures:
1. wakeup → child process started: `POST /agents/:id/heartbeat/invoke` for an agent whose process
   adapter is `sh -c 'date +%s%N >> ledger'`, one wakeup at a time; client clock before the POST
   against the timestamp the child writes (both on this machine), and the server's own view
   (`processStartedAt - createdAt` of the run);
2. 100 agents woken at once (`command: true`): time until all 100 runs succeeded, runs/s;
3. scheduler CPU with 1,000 idle agents with timer heartbeats on (interval 1 h, so none due):
   CPU time of the server and its PostgreSQL over 30 s, as % of one core;
4. server RSS while 50 runs execute at once (`sleep 3`), sampled every 50 ms.
The client runs on the same 2 cores as the server and its PostgreSQL.
"""
import argparse, http.client, json, os, socket, statistics, subprocess, tempfile, threading, time
from datetime import datetime


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/api" + path, body=data, headers={"content-type": "application/json"} if data else {})
    r = c.getresponse(); payload = r.read(); c.close()
    return r.status, (json.loads(payload) if payload else None)


def ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def tree(pid):
    """pid and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop(); out.append(p)
        try:
            kids = open(f"/proc/{p}/task/{p}/children").read().split()
        except OSError:
            kids = []
        todo.extend(int(k) for k in kids)
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def rss_kib(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
    return 0


def wait_done(port, run_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, r = call(port, "GET", f"/heartbeat-runs/{run_id}")
        if r["status"] not in ("queued", "running"):
            return r
        time.sleep(0.005)
    raise SystemExit(f"run {run_id} did not finish")


def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--wakeups", type=int, default=200)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="paperclip-hbbench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()))
    proc = subprocess.Popen([args.bin, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        for _ in range(600):
            try:
                if call(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        _, c = call(port, "POST", "/companies", {"name": "HB Bench"}); cid = c["id"]
        ledger = os.path.join(home, "ledger")
        _, a = call(port, "POST", f"/companies/{cid}/agents",
                    {"name": "Stamp", "adapterConfig": {"command": "sh", "args": ["-c", f"date +%s%N >> {ledger}"]}})
        client_lat, server_lat = [], []
        for i in range(args.wakeups):
            t0 = time.time()
            st, inv = call(port, "POST", f"/agents/{a['id']}/heartbeat/invoke", {})
            assert st == 202, (st, inv)
            r = wait_done(port, inv["run"]["id"])
            assert r["status"] == "succeeded", r
            stamp = int(open(ledger).read().split()[-1]) / 1e9
            client_lat.append(stamp - t0)
            server_lat.append(ts(r["processStartedAt"]) - ts(r["createdAt"]))
        rows.append(f"| wakeup → child started (client clock → child's first instruction), {args.wakeups} wakeups | "
                    f"{statistics.median(client_lat)*1000:.1f} ms | {pct(client_lat, 0.99)*1000:.1f} ms |")
        rows.append(f"| wakeup → process started (server: run createdAt → processStartedAt) | "
                    f"{statistics.median(server_lat)*1000:.1f} ms | {pct(server_lat, 0.99)*1000:.1f} ms |")

        agents = [call(port, "POST", f"/companies/{cid}/agents", {"name": f"T{i}", "adapterConfig": {"command": "true"}})[1]["id"]
                  for i in range(100)]
        runs = [None] * 100
        def wake(i):
            runs[i] = call(port, "POST", f"/agents/{agents[i]}/heartbeat/invoke", {})[1]["run"]["id"]
        t0 = time.perf_counter()
        ts_ = [threading.Thread(target=wake, args=(i,)) for i in range(100)]
        [t.start() for t in ts_]; [t.join() for t in ts_]
        for r in runs:
            assert wait_done(port, r)["status"] == "succeeded"
        took = time.perf_counter() - t0
        rows.append(f"| 100 agents woken at once (`true`): all succeeded | {took:.2f} s | {100/took:.0f} runs/s |")

        for i in range(1000):
            call(port, "POST", f"/companies/{cid}/agents",
                 {"name": f"Idle {i}", "adapterConfig": {"command": "true"}, "runtimeConfig": {"heartbeat": {"enabled": True, "intervalSec": 3600}}})
        time.sleep(3)
        pids = tree(proc.pid); hz = os.sysconf("SC_CLK_TCK")
        c0 = cpu_ticks([proc.pid]); a0 = cpu_ticks(pids); t0 = time.time()
        time.sleep(30)
        c1 = cpu_ticks([proc.pid]); a1 = cpu_ticks(tree(proc.pid)); el = time.time() - t0
        rows.append(f"| scheduler CPU, 1,000 idle agents with heartbeats on (30 s) | server {100*(c1-c0)/hz/el:.2f} % of a core | server + PostgreSQL {100*(a1-a0)/hz/el:.2f} % |")

        sleepers = [call(port, "POST", f"/companies/{cid}/agents", {"name": f"S{i}", "adapterConfig": {"command": "sleep", "args": ["3"]}})[1]["id"]
                    for i in range(50)]
        base = rss_kib(proc.pid)
        runs = [call(port, "POST", f"/agents/{s}/heartbeat/invoke", {})[1]["run"]["id"] for s in sleepers]
        peak, most = base, 0
        while True:
            peak = max(peak, rss_kib(proc.pid))
            _, live = call(port, "GET", f"/companies/{cid}/live-runs")
            running = sum(1 for r in live if r["status"] == "running")
            most = max(most, running)
            if not live:
                break
            time.sleep(0.05)
        rows.append(f"| server RSS with {most} runs executing at once | {peak/1024:.1f} MiB peak | {base/1024:.1f} MiB before |")
    finally:
        proc.send_signal(2); proc.wait(timeout=60)
    print("| measure | value | |")
    print("| --- | --- | --- |")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
