"""A demo server for the stall benchmarks (`planning_stall.py`,
`patient_read_stall.py`): `switchboard serve --demo` without simulated
traffic or SIP on a free loopback port and a fresh data directory, plain
HTTP requests to it, log-ins and a /healthz prober."""

import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class DemoServer:
    def __init__(self, binary, sip=None, prompts=None):
        """`sip`: an address for the SIP edge (default: no SIP); `prompts`:
        where spoken prompts are kept."""
        self.data = tempfile.mkdtemp(prefix="sb-bench-")
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        extra = ["--sip", sip or "off"] + (["--prompts", prompts] if prompts else [])
        self.proc = subprocess.Popen(
            [binary, "serve", "--data", self.data, "--listen", f"127.0.0.1:{port}", "--demo",
             "--demo-calls-per-minute", "0"] + extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(400):
            try:
                if self.req("GET", "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def req(self, method, path, body=None, auth=None, timeout=300):
        """`auth`: a session cookie (`name=value`) or `Bearer SECRET`."""
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(self.base + path, data=data, method=method)
        r.add_header("Content-Type", "application/json")
        r.add_header("Origin", self.base)
        if auth and auth.startswith("Bearer "):
            r.add_header("Authorization", auth)
        elif auth:
            r.add_header("Cookie", auth)
        try:
            with urllib.request.urlopen(r, timeout=timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def login(self, user):
        s, h, _ = self.req("POST", "/api/v1/session",
                           {"username": user, "password": "switchboard-demo"})
        assert s == 200, (user, s)
        return h["Set-Cookie"].split(";")[0]

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


class Prober:
    """Times GET /healthz every `every` seconds until stopped."""

    def __init__(self, server, every):
        self.times, self.done = [], threading.Event()

        def run():
            while not self.done.is_set():
                t0 = time.perf_counter()
                try:
                    server.req("GET", "/healthz", timeout=60)
                except OSError:
                    pass
                self.times.append(time.perf_counter() - t0)
                time.sleep(every)

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def stop(self):
        self.done.set()
        self.thread.join()
        t = sorted(self.times)
        return (f"{len(t)} probes, median {statistics.median(t) * 1000:.1f} ms, "
                f"p99 {t[int(len(t) * 0.99)] * 1000:.1f} ms, worst {t[-1] * 1000:.0f} ms")


HISTORY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                       "bank-callcentre-1999-jan-sep-6min.csv")


def planning_body():
    """A large planning request: nine months of six-minute arrivals,
    30-minute intervals, a year's forecast, staffing and shift suggestions."""
    return {
        "history_csv": open(HISTORY).read(), "interval_minutes": 30, "horizon_days": 365,
        "service": {"aht_seconds": 240, "patience_seconds": 90, "target": 0.8,
                    "target_seconds": 20, "shrinkage": 0.3, "max_occupancy": 0.9},
        "suggest": True,
    }


def store_test_patient(server):
    """An integration token (contacts, patients) and the test patient
    9990000018 stored with it; returns the token's `Bearer ...`."""
    admin = server.login("kent.admin")
    s, _, b = server.req("POST", "/api/v1/tokens",
                         {"name": "bench", "scopes": ["contacts", "patients"]}, admin)
    assert s == 201, (s, b)
    ehr = "Bearer " + json.loads(b)["secret"]
    s, _, b = server.req("PUT", "/api/v1/patients/9990000018",
                         {"nhs_number": "9990000018", "name": "Ada Testpatient",
                          "date_of_birth": "1950-02-03", "phones": ["07700 900123"],
                          "gp_practice": "G82001"}, ehr)
    assert s in (200, 201), (s, b)
    return ehr
