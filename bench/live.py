#!/usr/bin/env python3
"""Live events benchmark (no third-party packages: a minimal WebSocket client is below).

Usage: python3 bench/live.py [--bin target/release/paperclipai] [--sockets 1000] [--writes 200]

Starts `paperclipai run` on a fresh embedded instance, opens N idle sockets on
/api/companies/:id/events/ws and reads the server's RSS, then measures delivery latency: the time
from sending `POST /api/companies/:id/issues` to receiving its `activity.logged` event on one more
socket, while the idle sockets stay connected (every event fans out to all of them).
"""
import argparse, base64, http.client, json, os, resource, socket, statistics, struct, subprocess, tempfile, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, "/api" + path, body=data, headers={"content-type": "application/json"} if data else {})
    r = c.getresponse(); payload = r.read(); c.close()
    return r.status, (json.loads(payload) if payload else None)


class Ws:
    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.s.recv(1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.buf = b""

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def next_text(self):
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(n)
            if b0 & 0x0F == 1:
                return json.loads(payload)
            if b0 & 0x0F == 8:
                raise EOFError(payload)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--writes", type=int, default=200)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.sockets + 512)), hard))
    home = tempfile.mkdtemp(prefix="paperclip-livebench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()))
    proc = subprocess.Popen([args.bin, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = lambda: next(int(l.split()[1]) for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS:")) / 1024
    try:
        for _ in range(600):
            try:
                if call(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        _, c = call(port, "POST", "/companies", {"name": "Live Bench"}); cid = c["id"]
        time.sleep(1)
        before = rss()
        idle = [Ws(port, f"/api/companies/{cid}/events/ws") for _ in range(args.sockets)]
        time.sleep(2)
        with_idle = rss()
        watcher = Ws(port, f"/api/companies/{cid}/events/ws")
        lat = []
        for i in range(args.writes):
            t0 = time.perf_counter()
            _, issue = call(port, "POST", f"/companies/{cid}/issues", {"title": f"live {i}"})
            while True:
                e = watcher.next_text()
                if e["type"] == "activity.logged" and e["payload"].get("entityId") == issue["id"]:
                    break
            lat.append(time.perf_counter() - t0)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print("| measure | value |")
        print("| --- | --- |")
        print(f"| server RSS, no sockets | {before:.1f} MiB |")
        print(f"| server RSS, {args.sockets} idle sockets | {with_idle:.1f} MiB ({(with_idle - before) * 1024 / args.sockets:.1f} KiB per socket) |")
        print(f"| write → event on a socket ({args.writes} issue creates, {args.sockets} other sockets connected) | p50 {statistics.median(lat)*1000:.1f} ms, p99 {p99*1000:.1f} ms |")
        print(f"| server RSS after, {args.sockets + 1} sockets | {rss():.1f} MiB |")
        for w in idle:
            w.s.close()
    finally:
        proc.send_signal(2); proc.wait(timeout=60)


if __name__ == "__main__":
    main()
