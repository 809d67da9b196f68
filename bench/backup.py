#!/usr/bin/env python3
"""Backup benchmark: server memory stays flat while a large database is backed up.

Usage: python3 bench/backup.py [--bin target/release/paperclipai] [--rows 300000]

Starts `paperclipai run` on a fresh embedded instance, fills a table with ~1 KiB of random text
per row (300,000 rows ≈ 330 MiB of table), then calls POST /api/instance/database-backups while
sampling the server's RSS every 10 ms. pg_dump runs as a child process and streams to disk, so the
server's RSS must not grow with the database.
"""
import argparse, json, os, shutil, signal, socket, subprocess, tempfile, threading, time, urllib.request


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--rows", type=int, default=300000)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="paperclip-backupbench-")
    port, pg_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(pg_port), PAPERCLIP_DB_BACKUP_ENABLED="false")
    proc = subprocess.Popen([args.bin, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}/api"
        for _ in range(1000):
            try:
                urllib.request.urlopen(base + "/health", timeout=1); break
            except Exception:
                time.sleep(0.02)
        root = os.path.join(home, "instances", "default")
        creds = json.load(open(os.path.join(root, "secrets", "embedded-postgres.json")))
        pgenv = dict(os.environ, PGPASSWORD=creds["password"])
        sql = (f"CREATE TABLE bench_blob AS SELECT g, array_to_string(array(SELECT md5(random()::text || g::text || s) "
               f"FROM generate_series(1, 32) s), '') AS t FROM generate_series(1, {args.rows}) g;")
        t0 = time.time()
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", creds["user"], "-d", "paperclip", "-q", "-c", sql], env=pgenv, check=True)
        size = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", creds["user"], "-d", "paperclip", "-Atc",
                               "SELECT pg_database_size('paperclip')"], env=pgenv, check=True, capture_output=True, text=True).stdout.strip()
        fill = time.time() - t0
        time.sleep(1)
        idle = rss_kib(proc.pid)
        peak = [idle]; stop = threading.Event()
        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kib(proc.pid)); time.sleep(0.01)
        th = threading.Thread(target=sample); th.start()
        t0 = time.time()
        req = urllib.request.Request(base + "/instance/database-backups", data=b"{}", method="POST", headers={"content-type": "application/json"})
        result = json.load(urllib.request.urlopen(req, timeout=3600))
        took = time.time() - t0
        stop.set(); th.join()
        after = rss_kib(proc.pid)
        print("| metric | value |")
        print("| --- | --- |")
        print(f"| database size | {int(size) / 2**20:.0f} MiB ({args.rows} rows filled in {fill:.1f} s) |")
        print(f"| backup duration (POST /api/instance/database-backups) | {took:.1f} s |")
        print(f"| backup file size | {result['sizeBytes'] / 2**20:.0f} MiB |")
        print(f"| server RSS before / peak during / after | {idle/1024:.1f} / {peak[0]/1024:.1f} / {after/1024:.1f} MiB |")
    finally:
        proc.send_signal(signal.SIGINT); proc.wait(timeout=120)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
