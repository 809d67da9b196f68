#!/usr/bin/env python3
"""Startup benchmark: cold first start, warm restart and idle memory of `paperclipai run`.

Usage: python3 bench/startup.py [--runs 5] [--bin target/release/paperclipai]

Each run uses a fresh PAPERCLIP_HOME. "Cold" is an empty instance (initdb, database, migrations)
until GET /api/health answers 200; "warm" is a restart of the same instance. RSS is read from
/proc after the server has idled for 2 s: the server process alone, and all PostgreSQL processes
of the instance (postmaster + background workers; shared memory is counted once per process,
as /proc reports it, so the PostgreSQL figure is an upper bound).
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, tempfile, time, urllib.request


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_health(port, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
                if r.status == 200 and json.load(r)["status"] == "ok":
                    return
        except Exception:
            pass
        time.sleep(0.005)
    raise RuntimeError("health never became ok")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def postgres_pids(data_dir):
    real = os.path.realpath(data_dir)
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.readlink(f"/proc/{d}/cwd") == real:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def start(binary, home, port, pg_port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(pg_port))
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_health(port, proc)
    return proc, time.monotonic() - t0


def stop(proc):
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)


def summary(values, unit, fmt="{:.3f}"):
    return f"{fmt.format(statistics.median(values))} {unit} (range {fmt.format(min(values))}–{fmt.format(max(values))})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bin", default="target/release/paperclipai")
    args = ap.parse_args()
    cold, warm, server_rss, pg_rss = [], [], [], []
    for _ in range(args.runs):
        home = tempfile.mkdtemp(prefix="paperclip-bench-")
        try:
            port, pg_port = free_port(), free_port()
            proc, t = start(args.bin, home, port, pg_port); cold.append(t); stop(proc)
            proc, t = start(args.bin, home, port, pg_port); warm.append(t)
            time.sleep(2)
            server_rss.append(rss_kib(proc.pid) / 1024)
            pids = postgres_pids(os.path.join(home, "instances", "default", "db"))
            pg_rss.append(sum(rss_kib(p) for p in pids) / 1024)
            stop(proc)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    print(f"| metric ({args.runs} runs) | median (range) |")
    print("| --- | --- |")
    print(f"| cold first start → /api/health ok | {summary(cold, 's')} |")
    print(f"| warm restart → /api/health ok | {summary(warm, 's')} |")
    print(f"| idle RSS, server process | {summary(server_rss, 'MiB', '{:.1f}')} |")
    print(f"| idle RSS, PostgreSQL processes (sum) | {summary(pg_rss, 'MiB', '{:.1f}')} |")


if __name__ == "__main__":
    main()
