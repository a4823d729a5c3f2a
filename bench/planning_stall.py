"""Does planning stall the server? Starts `switchboard serve --demo` (no
simulated traffic, no SIP) on loopback, then sends two large planning
requests at once (nine months of six-minute arrivals from
../shared/data/bank-callcentre-1999-jan-sep-6min.csv, 30-minute intervals,
a year's forecast, staffing and shift suggestions) while probing
/healthz every 50 ms. Prints the planning answers' times and the probe's
median and worst latency.

Run: python3 bench/planning_stall.py target/release/switchboard
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
    if cookie:
        r.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def main():
    data = tempfile.mkdtemp(prefix="sb-planning-stall-")
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
        s, h, _ = req(base, "POST", "/api/v1/session",
                      {"username": "kent.supervisor", "password": "switchboard-demo"})
        assert s == 200, s
        cookie = h["Set-Cookie"].split(";")[0]
        history = open(HISTORY).read()
        body = {
            "history_csv": history, "interval_minutes": 30, "horizon_days": 365,
            "service": {"aht_seconds": 240, "patience_seconds": 90, "target": 0.8,
                        "target_seconds": 20, "shrinkage": 0.3, "max_occupancy": 0.9},
            "suggest": True,
        }
        probes, done = [], threading.Event()

        def probe():
            while not done.is_set():
                t0 = time.perf_counter()
                try:
                    req(base, "GET", "/healthz", timeout=60)
                except OSError:
                    pass
                probes.append(time.perf_counter() - t0)
                time.sleep(0.05)

        answers = []

        def plan():
            t0 = time.perf_counter()
            s, _, b = req(base, "POST", "/api/v1/planning", body, cookie)
            answers.append((s, time.perf_counter() - t0, len(b)))

        p = threading.Thread(target=probe)
        p.start()
        time.sleep(0.5)
        runs = [threading.Thread(target=plan) for _ in range(2)]
        t0 = time.perf_counter()
        for r in runs:
            r.start()
        for r in runs:
            r.join()
        wall = time.perf_counter() - t0
        time.sleep(0.5)
        done.set()
        p.join()
        print(f"two planning requests at once: answers {[a[0] for a in answers]} in "
              f"{', '.join(f'{a[1]:.2f} s' for a in sorted(answers, key=lambda a: a[1]))} "
              f"(both done in {wall:.2f} s)")
        print(f"/healthz every 50 ms meanwhile: {len(probes)} probes, median "
              f"{statistics.median(probes) * 1000:.1f} ms, worst {max(probes) * 1000:.0f} ms")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


main()
