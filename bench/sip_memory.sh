#!/usr/bin/env bash
# Does the server's memory come back after calls? ROUNDS rounds of CALLS
# SIPp calls each (RATE calls/s, each answered, hearing the queue
# announcement, echoing RTP like a phone, hung up after 1 s) against a
# release `serve`; the server's resident memory (VmRSS) is printed after
# start-up and after each round has settled. A leak grows round after
# round; the allocator's high-water mark grows in the first round only.
# Usage: bench/sip_memory.sh [ROUNDS] [CALLS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-4}
CALLS=${2:-8000}
RATE=${3:-200}
cargo build --release -q --locked -p switchboard
BIN=target/release/switchboard
DATA=$(mktemp -d)
PHYSIO=+441632960003   # no menu: straight to the queue
ulimit -n 20000 || true
$BIN serve --data "$DATA" --listen 127.0.0.1:18182 --demo --demo-calls-per-minute 0 \
    --sip 127.0.0.1:15091 --prompts target/prompts-bench > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for i in $(seq 1 100); do curl -sf http://127.0.0.1:18182/healthz >/dev/null && break; sleep 0.2; done
rss() { awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' /proc/$SERVER/status; }
sleep 2
echo "after start-up: $(rss)"
for r in $(seq 1 "$ROUNDS"); do
    (cd "$DATA" && sipp 127.0.0.1:15091 -sf "$OLDPWD/sipp/caller_wait.xml" -s $PHYSIO -d 1000 -rtp_echo \
        -r "$RATE" -m "$CALLS" -l $((RATE * 4)) -i 127.0.0.1 -p 25700 -mp 31000 -nostdin -timeout 300 \
        > sipp.out 2>&1) && rc=0 || rc=$?
    ok=$(grep -a "Successful call" "$DATA/sipp.out" | tail -1 | awk '{print $(NF)}')
    bad=$(grep -a "Failed call" "$DATA/sipp.out" | tail -1 | awk '{print $(NF)}')
    sleep 5
    echo "after round $r ($((r * CALLS)) calls; this round successful $ok, failed $bad, sipp exit $rc): $(rss)"
done
