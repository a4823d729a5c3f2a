"""Do audited patient reads stall the server? Starts `switchboard serve
--demo` (no simulated traffic, no SIP) on loopback, stores a test
patient, then has 8 clients read that patient (each read audited, one
fsync each) as fast as they can for 5 s while probing /healthz every
20 ms. Prints the reads per second and the probe's median, 99th
percentile and worst latency.

Run: python3 bench/patient_read_stall.py target/release/switchboard
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = sys.argv[1]
HISTORY = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                       "bank-callcentre-1999-jan-sep-6min.csv")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def req(base, method, path, body=None, cookie=None, timeout=300):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request(base + path, data=data, method=method)
    r.add_header("Content-Type", "application/json")
    r.add_header("Origin", base)
    if cookie and cookie.startswith("Bearer "):
        r.add_header("Authorization", cookie)
    elif cookie:
        r.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def main():
    data = tempfile.mkdtemp(prefix="sb-read-stall-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [BIN, "serve", "--data", data, "--listen", f"127.0.0.1:{port}", "--demo",
         "--demo-calls-per-minute", "0", "--sip", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            try:
                if req(base, "GET", "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        def login(user):
            s, h, _ = req(base, "POST", "/api/v1/session",
                          {"username": user, "password": "switchboard-demo"})
            assert s == 200, (user, s)
            return h["Set-Cookie"].split(";")[0]
        admin = login("kent.admin")
        s, _, b = req(base, "POST", "/api/v1/tokens",
                      {"name": "bench", "scopes": ["contacts", "patients"]}, admin)
        assert s == 201, (s, b)
        ehr = "Bearer " + json.loads(b)["secret"]
        sup = login("kent.supervisor")
        s, _, b = req(base, "PUT", "/api/v1/patients/9990000018",
                      {"nhs_number": "9990000018", "name": "Ada Testpatient",
                       "date_of_birth": "1950-02-03", "phones": ["07700 900123"],
                       "gp_practice": "G82001"}, ehr)
        assert s in (200, 201), (s, b)
        probes, reads, done = [], [], threading.Event()

        def probe():
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    req(base, "GET", "/healthz", timeout=60)
                except OSError:
                    pass
                probes.append(time.perf_counter() - t0)
                time.sleep(0.02)

        def reader():
            while not done.is_set():
                s, _, _ = req(base, "GET", "/api/v1/patients/9990000018?purpose=direct%20care", None, sup)
                reads.append(s)

        threads = [threading.Thread(target=probe)] + [threading.Thread(target=reader) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(5)
        done.set()
        for t in threads:
            t.join()
        ok = sum(1 for s in reads if s == 200)
        probes.sort()
        print(f"audited patient reads, 8 clients for 5 s: {ok / 5:.0f} a second "
              f"({len(reads) - ok} not 200)")
        print(f"/healthz every 20 ms meanwhile: {len(probes)} probes, median "
              f"{statistics.median(probes) * 1000:.1f} ms, p99 {probes[int(len(probes) * 0.99)] * 1000:.1f} ms, "
              f"worst {probes[-1] * 1000:.0f} ms")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


main()
