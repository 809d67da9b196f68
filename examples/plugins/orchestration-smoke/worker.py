#!/usr/bin/env python3
"""The orchestration smoke plugin: a Paperclip plugin worker in plain Python.

It speaks JSON-RPC 2.0, one JSON message per line on stdin/stdout, with no SDK, which shows the
protocol is language-neutral. Diagnostics go to stderr; the first stdout line is deliberate noise
that the host must ignore.
"""
import json
import os
import sys

KEY = "paperclipai.plugin-orchestration-smoke-example"
_next_id = 0
_pending_requests = []  # host requests that arrived while we waited for a response


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def read():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)  # the host went away
    return json.loads(line)


class HostError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def call(method, params):
    """Calls the host and waits for the answer."""
    global _next_id
    _next_id += 1
    my_id = f"w{_next_id}"
    send({"jsonrpc": "2.0", "id": my_id, "method": method, "params": params})
    while True:
        msg = read()
        if msg.get("id") == my_id and "method" not in msg:
            if "error" in msg:
                raise HostError(msg["error"]["code"], msg["error"]["message"])
            return msg.get("result")
        _pending_requests.append(msg)


def smoke(req):
    inv = req["invocationId"]
    issue_id = req["params"]["issueId"]
    body = req.get("body") or {}
    root = call("issues.get", {"issueId": issue_id, "invocationId": inv})
    company = root["companyId"]
    namespace = call("db.namespace", {"invocationId": inv})["namespace"]
    billing = f"plugin-smoke:{root['id']}"
    blocker = call("issues.create", {
        "invocationId": inv, "companyId": company, "title": f"Smoke blocker for {root['identifier']}",
        "status": "done", "priority": "low", "parentId": root["id"], "billingCode": billing,
        "originKind": f"plugin:{KEY}:blocker"})
    child = call("issues.create", {
        "invocationId": inv, "companyId": company, "title": f"Smoke child of {root['identifier']}",
        "status": "todo", "priority": "medium", "parentId": root["id"], "billingCode": billing,
        "assigneeAgentId": body.get("assigneeAgentId") or root.get("assigneeAgentId"),
        "blockedByIssueIds": [blocker["id"]], "originKind": f"plugin:{KEY}:child"})
    call("issues.relations.setBlockedBy", {"invocationId": inv, "issueId": child["id"], "blockedByIssueIds": [blocker["id"]]})
    call("issues.documents.upsert", {
        "invocationId": inv, "issueId": child["id"], "key": "orchestration-smoke", "title": "Orchestration smoke",
        "body": f"# Smoke\n\nBlocked by {blocker['identifier']}; namespace `{namespace}`.\n"})
    wake = call("issues.requestWakeup", {
        "invocationId": inv, "issueId": child["id"], "reason": "plugin:orchestration_smoke",
        "idempotencyKey": f"smoke:{child['id']}"})
    summary = call("issues.summaries.getOrchestration", {"invocationId": inv, "issueId": root["id"], "includeSubtree": True})
    subtree = call("issues.getSubtree", {"invocationId": inv, "issueId": root["id"]})
    call("db.execute", {"invocationId": inv,
        "sql": "INSERT INTO smoke_runs (root_issue_id, child_issue_id, blocker_issue_id, billing_code, last_summary) "
               "VALUES ($1::uuid, $2::uuid, $3::uuid, $4, $5::jsonb)",
        "params": [root["id"], child["id"], blocker["id"], billing, json.dumps(summary)]})
    joined = call("db.query", {"invocationId": inv,
        "sql": "SELECT s.billing_code, i.identifier FROM smoke_runs s JOIN public.issues i ON i.id = s.root_issue_id "
               "WHERE s.root_issue_id = $1::uuid",
        "params": [root["id"]]})
    return {"status": 201, "body": {
        "rootIssueId": root["id"], "childIssueId": child["id"], "blockerIssueId": blocker["id"],
        "billingCode": billing, "namespace": namespace, "joinedRows": joined,
        "subtreeIssueIds": subtree["issueIds"], "wakeupQueued": bool(wake and wake.get("queued")),
        "summary": summary}}


def summary_route(req):
    rows = call("db.query", {"invocationId": req["invocationId"],
        "sql": "SELECT last_summary FROM smoke_runs WHERE root_issue_id = $1::uuid ORDER BY created_at DESC LIMIT 1",
        "params": [req["params"]["issueId"]]})
    if not rows:
        return {"status": 404, "body": {"error": "no smoke run for this issue"}}
    return {"status": 200, "body": rows[0]["last_summary"], "headers": {"cache-control": "no-store"}}


def handle_api(req):
    key = req.get("routeKey")
    if key == "initialize":
        return smoke(req)
    if key == "summary":
        return summary_route(req)
    if key == "state":
        inv, body = req["invocationId"], req.get("body") or {}
        scope = {"invocationId": inv, "scopeKind": "company", "scopeId": req["companyId"], "stateKey": body["key"]}
        call("state.set", dict(scope, value=body.get("value")))
        return {"status": 200, "body": call("state.get", scope)}
    if key == "denied":
        # issues.update is not among this plugin's capabilities: the host must refuse it.
        call("issues.update", {"invocationId": req["invocationId"], "issueId": req["params"]["issueId"], "title": "hijacked"})
        return {"status": 200, "body": {"unexpected": True}}
    if key == "slow":
        import time
        time.sleep(float((req.get("body") or {}).get("seconds", 2)))
        return {"status": 200, "body": {"slept": True}}
    if key == "crash":
        sys.stderr.write("crashing on purpose\n")
        os._exit(3)
    return {"status": 404, "body": {"error": "unknown route"}}


def handle(msg):
    method, params = msg.get("method"), msg.get("params") or {}
    try:
        if method == "initialize":
            result = {"ok": True, "supportedMethods": ["initialize", "health", "shutdown", "handleApiRequest"]}
        elif method == "health":
            result = {"status": "ok"}
        elif method == "shutdown":
            send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
            sys.exit(0)
        elif method == "onEvent":
            event = params["event"]
            call("db.execute", {"sql": "INSERT INTO smoke_events (activity_id, event_type) VALUES ($1::uuid, $2)",
                                "params": [event["id"], event["type"]]})
            result = {}
        elif method == "handleApiRequest":
            result = handle_api(params)
        else:
            send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": f"unknown method {method}"}})
            return
        send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
    except HostError as e:
        send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": e.code, "message": e.message}})


def main():
    print("orchestration smoke worker starting (this line is not JSON-RPC)", flush=True)
    while True:
        msg = _pending_requests.pop(0) if _pending_requests else read()
        if "method" in msg and "id" in msg:
            handle(msg)


if __name__ == "__main__":
    main()
