"""Do audited patient reads stall the server? Starts `switchboard serve
--demo` (no simulated traffic, no SIP) on loopback, stores a test
patient, then has 8 clients read that patient (each read audited, one
fsync each) as fast as they can for 5 s while probing /healthz every
20 ms. Prints the reads per second and the probe's median, 99th
percentile and worst latency.

Run: python3 bench/patient_read_stall.py target/release/switchboard
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_server import DemoServer, Prober, store_test_patient  # noqa: E402


def main():
    server = DemoServer(sys.argv[1])
    try:
        store_test_patient(server)
        sup = server.login("kent.supervisor")
        reads, done = [], threading.Event()

        def reader():
            while not done.is_set():
                reads.append(server.req(
                    "GET", "/api/v1/patients/9990000018?purpose=direct%20care", None, sup)[0])

        probe = Prober(server, 0.02)
        readers = [threading.Thread(target=reader) for _ in range(8)]
        for t in readers:
            t.start()
        time.sleep(5)
        done.set()
        for t in readers:
            t.join()
        probes = probe.stop()
        ok = sum(1 for s in reads if s == 200)
        print(f"audited patient reads, 8 clients for 5 s: {ok / 5:.0f} a second "
              f"({len(reads) - ok} not 200)")
        print(f"/healthz every 20 ms meanwhile: {probes}")
    finally:
        server.stop()


main()
