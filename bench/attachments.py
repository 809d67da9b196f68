#!/usr/bin/env python3
"""Attachment streaming benchmark: a large upload and download through the API, with the
server's memory sampled all the while.

Usage: python3 bench/attachments.py [--bin target/release/paperclipai] [--mib 1024]

Starts `paperclipai run` on a fresh embedded instance (local_disk storage) with
PAPERCLIP_ATTACHMENT_MAX_BYTES above the file size, uploads N MiB as one raw request body
(chunked, generated on the fly), downloads it back, checks the SHA-256 both ways, and prints
throughput and the server's peak RSS (sampled every 20 ms from /proc).
"""
import argparse, hashlib, http.client, json, os, socket, subprocess, tempfile, threading, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/api" + path, body=data, headers={"content-type": "application/json"} if data else {})
    r = c.getresponse(); payload = r.read(); c.close()
    return r.status, (json.loads(payload) if payload else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--mib", type=int, default=1024)
    args = ap.parse_args()
    size = args.mib << 20
    home = tempfile.mkdtemp(prefix="paperclip-filebench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()),
               PAPERCLIP_ATTACHMENT_MAX_BYTES=str(size + 1))
    proc = subprocess.Popen([args.bin, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = lambda: next(int(l.split()[1]) for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS:")) / 1024
    peak = [0.0]; sampling = [True]

    def sample():
        while sampling[0]:
            try:
                peak[0] = max(peak[0], rss())
            except (OSError, StopIteration):
                pass
            time.sleep(0.02)

    try:
        for _ in range(600):
            try:
                if call(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        _, c = call(port, "POST", "/companies", {"name": "File Bench"})
        _, issue = call(port, "POST", f"/companies/{c['id']}/issues", {"title": "big file"})
        time.sleep(1)
        idle = rss()
        threading.Thread(target=sample, daemon=True).start()
        chunk = os.urandom(1 << 20)
        sent = hashlib.sha256()

        def body():
            for _ in range(args.mib):
                sent.update(chunk)
                yield chunk

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t0 = time.perf_counter()
        conn.request("POST", f"/api/companies/{c['id']}/issues/{issue['id']}/attachments?filename=big.bin",
                     body=body(), headers={"content-type": "application/octet-stream"}, encode_chunked=True)
        r = conn.getresponse(); a = json.loads(r.read()); conn.close()
        up = time.perf_counter() - t0
        assert r.status == 201, (r.status, a)
        assert a["sha256"] == sent.hexdigest() and a["byteSize"] == size, a
        up_peak = peak[0]
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        conn.request("GET", f"/api/attachments/{a['id']}/content")
        r = conn.getresponse(); got = hashlib.sha256(); n = 0
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            got.update(b); n += len(b)
        conn.close()
        down = time.perf_counter() - t0
        assert n == size and got.hexdigest() == a["sha256"], (n, got.hexdigest())
        sampling[0] = False
        print("| measure | value |")
        print("| --- | --- |")
        print(f"| upload {args.mib} MiB (raw, chunked), SHA-256 checked | {up:.1f} s ({args.mib / up:.0f} MiB/s) |")
        print(f"| download {args.mib} MiB, SHA-256 checked | {down:.1f} s ({args.mib / down:.0f} MiB/s) |")
        print(f"| server RSS idle / peak during upload / peak overall | {idle:.1f} / {up_peak:.1f} / {peak[0]:.1f} MiB |")
    finally:
        sampling[0] = False
        proc.send_signal(2); proc.wait(timeout=60)


if __name__ == "__main__":
    main()
