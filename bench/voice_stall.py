"""Do patient reads and planning disturb calls and routing? For each
binary given (side by side in one run), starts `switchboard serve --demo`
with its SIP edge on loopback, places one call into the Physiotherapy
queue (`bench/rtp_probe.py`: hold music every 20 ms) and, while its RTP
is received for 8 s, runs for the middle 6 s: 8 clients doing audited
patient reads (one fsync each) as fast as they can, two large planning
requests, and a routing probe that creates a contact every 50 ms (an
input routed, committed and answered) and times each. Prints the RTP
inter-arrival statistics, the routing probe's latencies and the reads
per second.

Run: python3 bench/voice_stall.py BINARY [BINARY ...]
"""

import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from demo_server import DemoServer, free_port, planning_body, store_test_patient  # noqa: E402

PROMPTS = os.path.join(HERE, "..", "target", "tmp", "prompts")


def ms(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] * 1000


def run(binary):
    sip = f"127.0.0.1:{free_port()}"
    server = DemoServer(binary, sip=sip, prompts=PROMPTS)
    try:
        ehr = store_test_patient(server)
        sup = server.login("kent.supervisor")
        plan_body = planning_body()
        probe = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "rtp_probe.py"), sip, "+441632960003", "8"],
            stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        reads, routed, done = [], [], threading.Event()

        def reader():
            while not done.is_set():
                reads.append(server.req(
                    "GET", "/api/v1/patients/9990000018?purpose=direct%20care", None, sup)[0])

        def router():
            while not done.is_set():
                t0 = time.perf_counter()
                s, _, _ = server.req("POST", "/api/v1/contacts", {"queue": 2}, ehr)
                if s == 201:
                    routed.append(time.perf_counter() - t0)
                time.sleep(0.05)

        def plan():
            server.req("POST", "/api/v1/planning", plan_body, sup)

        workers = ([threading.Thread(target=reader) for _ in range(8)]
                   + [threading.Thread(target=router)]
                   + [threading.Thread(target=plan) for _ in range(2)])
        for w in workers:
            w.start()
        time.sleep(6)
        done.set()
        for w in workers:
            w.join()
        out, _ = probe.communicate(timeout=60)
        ok = sum(1 for s in reads if s == 200)
        print(f"{binary}")
        print(f"  RTP, one call: {out.strip()}")
        print(f"  routing probe: {len(routed)} contacts, median {ms(routed, 0.5):.1f} ms, "
              f"p99 {ms(routed, 0.99):.1f} ms, worst {max(routed) * 1000:.0f} ms")
        print(f"  audited patient reads: {ok / 6:.0f} a second while planning ran")
    finally:
        server.stop()


for b in sys.argv[1:]:
    run(b)
