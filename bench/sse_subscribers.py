#!/usr/bin/env python3
"""How many live-stream subscribers one server holds while events flow.

Opens N connections to GET /api/v1/events, then creates M contacts over
HTTP (each gives two events: arrived and queued, or more), and counts the
events every subscriber received. Prints one line: subscribers, events
sent, the slowest subscriber's count, how long the fan-out took.

Usage: sse_subscribers.py HOST:PORT N M
(the server chooses the contacts' ids)
"""
import asyncio
import os
import resource
import sys
import time


async def subscribe(host, port, ready, counts, i):
    r, w = await asyncio.open_connection(host, port)
    cookie = os.environ.get("SB_COOKIE", "")
    w.write(f"GET /api/v1/events HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n".encode())
    await w.drain()
    ready.release()
    try:
        while True:
            line = await r.readline()
            if not line:
                break
            if line.startswith(b"event: record"):
                counts[i] += 1
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        w.close()


async def post(host, port, body):
    r, w = await asyncio.open_connection(host, port)
    w.write(
        (
            f"POST /api/v1/contacts HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {os.environ.get('SB_BEARER', '')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n{body}"
        ).encode()
    )
    await w.drain()
    data = await r.read()
    w.close()
    status = int(data.split(b" ", 2)[1])
    events = data.count(b'"seq":')
    return status, events


async def main():
    addr, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    host, port = addr.rsplit(":", 1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 256), hard))
    ready = asyncio.Semaphore(0)
    counts = [0] * n
    tasks = [asyncio.create_task(subscribe(host, port, ready, counts, i)) for i in range(n)]
    for _ in range(n):
        await ready.acquire()
    await asyncio.sleep(0.5)
    sent = 0
    t0 = time.monotonic()
    for k in range(m):
        status, events = await post(host, port, f'{{"queue":{2 + k % 5}}}')
        assert status == 201, status
        sent += events
    # Wait until every subscriber has everything, or 30 s.
    deadline = time.monotonic() + 30
    while min(counts) < sent and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    took = time.monotonic() - t0
    print(
        f"subscribers={n} events_sent={sent} slowest_got={min(counts)} "
        f"all_got_all={min(counts) >= sent} seconds={took:.2f} "
        f"deliveries_per_s={n * sent / took:.0f}"
    )
    for t in tasks:
        t.cancel()


asyncio.run(main())
