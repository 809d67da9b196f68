"""Validates Paperclip's OpenAPI document as OpenAPI 3.1 and, when given, real answers against
the response schemas the document declares for their operation and status.

Usage: validate_openapi.py DOC.json [SAMPLES.json]
SAMPLES.json: [{"path": "/api/...", "method": "get", "status": 200, "body": ...}, ...]
"""
import json
import sys

from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

doc = json.load(open(sys.argv[1]))
validate(doc)
print("openapi: valid OpenAPI", doc["openapi"])

if len(sys.argv) > 2:
    samples = json.load(open(sys.argv[2]))
    failures = []
    checked = 0
    for s in samples:
        op = doc["paths"][s["path"]][s["method"]]
        answer = op["responses"].get(str(s["status"]))
        if answer is None:
            failures.append(f'{s["method"]} {s["path"]}: status {s["status"]} is not documented')
            continue
        schema = answer.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            failures.append(f'{s["method"]} {s["path"]} {s["status"]}: no schema')
            continue
        # $refs point into the document: give the schema the document's components.
        rooted = dict(schema)
        rooted["components"] = doc["components"]
        errors = list(Draft202012Validator(rooted).iter_errors(s["body"]))
        checked += 1
        for e in errors[:3]:
            where = "/".join(str(p) for p in e.absolute_path)
            failures.append(f'{s["method"]} {s["path"]} {s["status"]} at /{where}: {e.message[:300]}')
    print(f"openapi: {checked} answers checked against their schemas")
    if failures:
        print(f"{len(failures)} answers do not match the document:")
        print("\n".join(failures[:80]))
        sys.exit(1)
