"""Checks the API from outside, against its own document: starts
`switchboard serve --demo` (no traffic, no SIP) on a free loopback port,
validates the served OpenAPI document with openapi-spec-validator, then
runs schemathesis against the live server as two roles (supervisor and
admin), bounded: no server errors, no status code, content type or
body the document does not describe. Before that, validates FHIR against the published
R4B models of `fhir.resources`: what the live server serves (a
HealthcareService search, one service as HealthcareService, Location and
Organization, its slots) and the samples `crates/fhir`'s tests wrote
(referral message bundles, an appointment ...). Exits non-zero on any
failure.

Run: python3 scripts/api_check.py target/debug/switchboard
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

EXAMPLES = "15"  # generated cases per operation and phase
SEED = "20261202"  # the same cases every run
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def login(base, user):
    r = urllib.request.Request(
        base + "/api/v1/session",
        data=json.dumps({"username": user, "password": "switchboard-demo"}).encode(),
        method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(r, timeout=30) as resp:
        return resp.headers["Set-Cookie"].split(";")[0]


SAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "tmp",
                       "fhir-samples")


def fhir_check(base):
    from fhir.resources.R4B import get_fhir_model_class

    def valid(name, v):
        try:
            get_fhir_model_class(v["resourceType"]).model_validate(v)
            return True
        except Exception as e:  # the model names every element that is off
            print(f"{name}: {e}")
            return False

    cookie = login(base, "kent.clinician")

    def get(path):
        r = urllib.request.Request(base + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(r, timeout=30) as resp:
            return json.loads(resp.read())

    ok = True
    found = get("/api/v1/fhir/HealthcareService?_count=20")
    if not found.get("entry"):
        print("the demo has no Directory of Services (../shared/data missing?)")
        return False
    ok &= valid("HealthcareService search", found)
    sid = found["entry"][0]["resource"]["id"]
    for kind in ["HealthcareService", "Location", "Organization"]:
        ok &= valid(f"{kind}/{sid}", get(f"/api/v1/fhir/{kind}/{sid}"))
    ok &= valid(f"slots of {sid}", get(f"/api/v1/dos/services/{sid}/slots"))
    auditor = login(base, "kent.auditor")
    r = urllib.request.Request(base + "/api/v1/audit/events?hours=24", headers={"Cookie": auditor})
    with urllib.request.urlopen(r, timeout=30) as resp:
        events = json.loads(resp.read())
    if not events.get("entry"):
        print("the audit export is empty")
        return False
    ok &= valid("audit trail as AuditEvent", events)
    names = sorted(f for f in os.listdir(SAMPLES) if f.endswith(".json")) \
        if os.path.isdir(SAMPLES) else []
    if not names:
        print(f"no samples in {SAMPLES}: run the tests first (cargo nextest run -p fhir)")
        return False
    for n in names:
        ok &= valid(n, json.load(open(os.path.join(SAMPLES, n))))
    print(f"{6 + len(names)} FHIR resources checked: {'all valid' if ok else 'NOT ALL VALID'}")
    return ok


def main():
    binary = sys.argv[1]
    data = tempfile.mkdtemp(prefix="sb-api-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [binary, "serve", "--demo", "--demo-calls-per-minute", "0", "--sip", "off",
         "--data", data, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "SWITCHBOARD_LOG": "warn"})
    failed = False
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        doc = os.path.join(data, "openapi.json")
        with urllib.request.urlopen(base + "/api/v1/openapi.json", timeout=30) as r:
            open(doc, "wb").write(r.read())
        print("== openapi-spec-validator", flush=True)
        failed |= subprocess.run(["openapi-spec-validator", doc]).returncode != 0
        # Before the fuzzing, which may change the demo accounts.
        print("== FHIR against the R4B models of fhir.resources", flush=True)
        failed |= not fhir_check(base)
        for role in ["kent.supervisor", "kent.admin"]:
            print(f"== schemathesis as {role}", flush=True)
            cookie = login(base, role)
            # The session as the document's own `session` scheme, so the
            # cases that vary the cookie header do not drop it.
            config = os.path.join(data, "schemathesis.toml")
            open(config, "w").write(
                f'[auth.openapi.session]\napi_key = "{cookie.split("=", 1)[1]}"\n')
            run = subprocess.run(
                ["schemathesis", "--config-file", config, "run", base + "/api/v1/openapi.json",
                 "-H", f"Origin: {base}",
                 "--checks", CHECKS, "-n", EXAMPLES, "--seed", SEED,
                 "--phases", "examples,coverage,fuzzing",
                 # Logging in and out would change who the run is.
                 "--exclude-path", "/api/v1/session",
                 "--no-color"],
                # Its cache goes with the data, not into the repository.
                cwd=data, timeout=900)
            failed |= run.returncode != 0
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)
    sys.exit(1 if failed else 0)


main()
