#!/usr/bin/env python3
"""Company portability at scale: export and import of a company with 100,000 issues.

Usage: python3 bench/portability.py [--bin target/release/paperclipai]

Builds the company of bench/scale.py (1,000 agents, 100,000 issues, a million activity rows,
20,000 runs, 100,000 cost events: the history a bundle leaves out), adds 100,000 comments, a
label on every tenth issue and 20 attachments of 256 KiB, then measures, with the server running:

- `paperclipai company export <id> --out f` and `paperclipai company import f` (the CLI, beside
  the server): wall time and the CLI's peak RSS (`/usr/bin/time -v`);
- `POST /api/companies/:id/export` and `POST /api/companies/import` (the server streaming the
  bundle out and in): wall time and the server's peak RSS during the call (VmHWM, reset before
  each call through /proc/<pid>/clear_refs). The server runs with PAPERCLIP_ATTACHMENT_MAX_BYTES
  raised to 1 GiB, since an API import body is capped at the upload limit;
- the copies re-exported: their end-line counts must equal the original's.
"""
import argparse, http.client, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import call, fill, free_port, psql, start, stop  # noqa: E402


def rss_reset(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def rss_peak_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_cli(binary, env, *args):
    """Runs the CLI under /usr/bin/time -v: (seconds, peak RSS MiB, stdout, CPU seconds)."""
    t0 = time.time()
    p = subprocess.run(["/usr/bin/time", "-v", binary, *args], env=env, capture_output=True, text=True)
    took = time.time() - t0
    if p.returncode != 0:
        raise SystemExit(f"{args}: {p.stderr[-2000:]}")
    peak = next(int(l.split()[-1]) for l in p.stderr.splitlines() if "Maximum resident set size" in l)
    cpu = sum(float(l.split()[-1]) for l in p.stderr.splitlines()
              if "User time (seconds)" in l or "System time (seconds)" in l)
    return took, peak / 1024, p.stdout, cpu


def stream(port, method, path, body_file=None, out_file=None):
    """An HTTP call that streams its body from a file and its answer to one (no buffering here)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    headers = {"content-type": "application/x-ndjson" if body_file else "application/json"}
    if body_file:
        headers["content-length"] = str(os.path.getsize(body_file))
        body = open(body_file, "rb")
    else:
        body = b"{}"
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    if out_file:
        with open(out_file, "wb") as f:
            while chunk := r.read(1 << 20):
                f.write(chunk)
        payload = b""
    else:
        payload = r.read()
    c.close()
    if r.status not in (200, 201):
        raise SystemExit(f"{path}: {r.status} {payload[:500]}")
    return payload


def end_counts(path):
    with open(path, "rb") as f:
        f.seek(max(0, os.path.getsize(path) - 65536))
        last = f.read().splitlines()[-1]
    return json.loads(last)["counts"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/paperclipai")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="paperclip-portbench-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(PAPERCLIP_HOME=home, PORT=str(port), PAPERCLIP_EMBEDDED_POSTGRES_PORT=str(free_port()),
               PAPERCLIP_ATTACHMENT_MAX_BYTES=str(1 << 30))
    proc = start(args.bin, env, port)
    try:
        def api(method, path, body=None):
            st, b = call(port, method, "/api" + path, body)
            assert st in (200, 201), (path, st, b[:300])
            return json.loads(b)
        cid = api("POST", "/companies", {"name": "Port Co"})["id"]
        quiet = {"heartbeat": {"enabled": False}}
        ceo = api("POST", f"/companies/{cid}/agents", {"name": "CEO", "role": "ceo", "adapterType": "process",
                                                       "adapterConfig": {"command": "true"}, "runtimeConfig": quiet})["id"]
        for g in range(1, 11):
            api("POST", f"/companies/{cid}/agents", {"name": f"Agent {g}", "role": "engineer", "reportsTo": ceo,
                                                     "adapterType": "process", "adapterConfig": {"command": "true"},
                                                     "runtimeConfig": quiet})
        project = api("POST", f"/companies/{cid}/projects", {"name": "Platform"})["id"]
        sample = api("POST", f"/companies/{cid}/issues", {"title": "Sample issue"})["id"]
        label = api("POST", f"/companies/{cid}/labels", {"name": "bug", "color": "#aa0000"})["id"]
        print("filling (bulk SQL) ...", flush=True)
        fill(home, cid, ceo, sample, project)
        psql(home, f"""
            INSERT INTO issue_comments (company_id, issue_id, body, author_user_id)
              SELECT '{cid}', id, 'A comment on ' || identifier || ': ' || repeat('y', 200), 'local-board'
              FROM issues WHERE company_id = '{cid}';
            INSERT INTO issue_labels (company_id, issue_id, label_id)
              SELECT '{cid}', id, '{label}' FROM issues WHERE company_id = '{cid}' AND issue_number % 10 = 0;
        """, "VACUUM ANALYZE")
        blob = os.urandom(256 << 10)
        for i in range(20):
            boundary = "pcbench"
            body = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"f{i}.bin\"\r\n"
                    f"content-type: application/octet-stream\r\n\r\n").encode() + blob + f"\r\n--{boundary}--\r\n".encode()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", f"/api/companies/{cid}/issues/{sample}/attachments", body=body,
                      headers={"content-type": f"multipart/form-data; boundary={boundary}"})
            r = c.getresponse(); r.read(); c.close()
            assert r.status == 201, r.status

        rows = []
        work = tempfile.mkdtemp(prefix="bundles-", dir=home)
        cli_bundle = os.path.join(work, "cli.ndjson")
        took, peak, _, cpu = timed_cli(args.bin, env, "company", "export", cid, "--out", cli_bundle)
        counts = end_counts(cli_bundle)
        total = sum(counts.values())
        size = os.path.getsize(cli_bundle) / (1 << 20)
        rows.append(("CLI export", took, f"{peak:.0f} MiB (CLI)", size, f"{cpu:.1f} s"))

        api_bundle = os.path.join(work, "api.ndjson")
        rss_reset(proc.pid)
        t0 = time.time()
        stream(port, "POST", f"/api/companies/{cid}/export", out_file=api_bundle)
        rows.append(("API export", time.time() - t0, f"{rss_peak_mib(proc.pid):.0f} MiB (server)",
                     os.path.getsize(api_bundle) / (1 << 20), "-"))
        assert end_counts(api_bundle) == counts, "the API and CLI exports differ"

        took, peak, out, cpu = timed_cli(args.bin, env, "company", "import", cli_bundle, "--name", "CLI copy")
        cli_copy = json.loads(out)["companyId"]
        rows.append(("CLI import (new company)", took, f"{peak:.0f} MiB (CLI)", size, f"{cpu:.1f} s"))

        rss_reset(proc.pid)
        t0 = time.time()
        out = stream(port, "POST", "/api/companies/import?name=API%20copy", body_file=api_bundle)
        api_copy = json.loads(out)["companyId"]
        rows.append(("API import (new company)", time.time() - t0, f"{rss_peak_mib(proc.pid):.0f} MiB (server)", size, "-"))

        for copy in (cli_copy, api_copy):
            again = os.path.join(work, f"{copy}.ndjson")
            timed_cli(args.bin, env, "company", "export", copy, "--out", again)
            assert end_counts(again) == counts, f"the copy {copy} exports different counts"

        print(f"\nCompany: {counts.get('issues')} issues, {counts.get('issue_comments')} comments, "
              f"{counts.get('agents')} agents, {counts.get('assets')} files; {total:,} rows in the bundle "
              f"({size:.1f} MiB); server RSS at idle after the runs: {rss_now(proc.pid):.0f} MiB\n")
        print("| step | time | peak RSS | CLI CPU (user+sys) | bundle |")
        print("|---|---:|---:|---:|---:|")
        for name, secs, peak, mib, cpu in rows:
            print(f"| {name} | {secs:.1f} s | {peak} | {cpu} | {mib:.1f} MiB |")
        print("\nRound trip: both copies re-export with the original's counts for every table.")
    finally:
        stop(proc)


def rss_now(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
