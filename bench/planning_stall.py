"""Does planning stall the server? Starts `switchboard serve --demo` (no
simulated traffic, no SIP) on loopback, then sends two large planning
requests at once (nine months of six-minute arrivals from
../shared/data/bank-callcentre-1999-jan-sep-6min.csv, 30-minute intervals,
a year's forecast, staffing and shift suggestions) while probing
/healthz every 50 ms. Prints the planning answers' times and the probe's
median and worst latency.

Run: python3 bench/planning_stall.py target/release/switchboard
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_server import DemoServer, Prober, planning_body  # noqa: E402


def main():
    server = DemoServer(sys.argv[1])
    try:
        sup = server.login("kent.supervisor")
        body = planning_body()
        answers = []

        def plan():
            t0 = time.perf_counter()
            s, _, b = server.req("POST", "/api/v1/planning", body, sup)
            answers.append((s, time.perf_counter() - t0))

        probe = Prober(server, 0.05)
        time.sleep(0.5)
        runs = [threading.Thread(target=plan) for _ in range(2)]
        t0 = time.perf_counter()
        for r in runs:
            r.start()
        for r in runs:
            r.join()
        wall = time.perf_counter() - t0
        time.sleep(0.5)
        probes = probe.stop()
        print(f"two planning requests at once: answers {[a[0] for a in answers]} in "
              f"{', '.join(f'{a[1]:.2f} s' for a in sorted(answers, key=lambda a: a[1]))} "
              f"(both done in {wall:.2f} s)")
        print(f"/healthz every 50 ms meanwhile: {probes}")
    finally:
        server.stop()


main()
