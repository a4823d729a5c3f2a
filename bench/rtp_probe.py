#!/usr/bin/env python3
"""One probe call into the SIP edge that measures the server's RTP pacing.

Calls NUMBER at the server over UDP, answers nothing but ACK, receives the
server's RTP (echoing it back, as a phone sends its own) for SECONDS and prints the packet count and the inter-arrival
statistics (ms): median, p99, max, and RFC 3550 interarrival jitter.
Run alongside a SIPp load to see whether pacing degrades.

    bench/rtp_probe.py 127.0.0.1:5060 +441632960003 10
"""
import socket, sys, time, random, statistics

server, number, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
host, port = server.split(":"); port = int(port)
sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sip.bind(("127.0.0.1", 0))
rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); rtp.bind(("127.0.0.1", 0))
lport, mport = sip.getsockname()[1], rtp.getsockname()[1]
tag, cid = "p%d" % random.randrange(1 << 30), "probe-%d@127.0.0.1" % random.randrange(1 << 30)
sdp = ("v=0\r\no=probe 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio %d RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n" % mport)
def msg(method, cseq, to_tag="", body=""):
    return ("%s sip:%s@%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bK%s%d\r\n"
            "From: <sip:probe@127.0.0.1>;tag=%s\r\nTo: <sip:%s@%s:%d>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
            "Contact: <sip:probe@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s") % (
        method, number, host, port, lport, tag, cseq if method != "ACK" else 0, tag, number, host, port,
        to_tag, cid, cseq, method, lport, "Content-Type: application/sdp\r\n" if body else "", len(body), body)
sip.sendto(msg("INVITE", 1, body=sdp).encode(), (host, port))
sip.settimeout(5)
to_tag = ""
while True:
    data = sip.recv(65535).decode(errors="replace")
    first = data.split("\r\n", 1)[0]
    if first.startswith("SIP/2.0 1"):
        continue
    if not first.startswith("SIP/2.0 200"):
        sys.exit("call refused: " + first)
    for line in data.split("\r\n"):
        if line.lower().startswith("to:") and ";tag=" in line:
            to_tag = ";tag=" + line.split(";tag=")[1].split(";")[0]
    break
sip.sendto(msg("ACK", 1, to_tag).encode(), (host, port))
rtp.settimeout(1)
arrivals, stamps = [], []
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        pkt, source = rtp.recvfrom(2048)
    except socket.timeout:
        continue
    # Like a phone, it sends RTP too (the server stops sending to an
    # address that never answers): each packet goes back where it came from.
    rtp.sendto(pkt, source)
    arrivals.append(time.monotonic())
    stamps.append(int.from_bytes(pkt[4:8], "big"))
sip.sendto(msg("BYE", 2, to_tag).encode(), (host, port))
gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:])]
j = 0.0
for i in range(1, len(arrivals)):
    d = (arrivals[i] - arrivals[i - 1]) * 8000 - (stamps[i] - stamps[i - 1])
    j += (abs(d) - j) / 16
gaps.sort()
print("packets %d over %.0f s; inter-arrival ms: median %.2f p99 %.2f max %.2f; RFC 3550 jitter %.2f ms"
      % (len(arrivals), seconds, statistics.median(gaps), gaps[int(len(gaps) * 0.99)], gaps[-1], j / 8))
