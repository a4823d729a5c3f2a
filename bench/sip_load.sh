#!/usr/bin/env bash
# Telephony load on this machine, with SIPp against a release `serve`:
#  1. call set-up rate into the IVR: RATE calls/s for 20 s, each call
#     answered, hearing the queue announcement, hung up after 1 s;
#  2. concurrent calls with media: CONC calls held for 40 s (each gets
#     prompts, then hold music, 50 RTP packets/s from the server), with a
#     probe call measuring the server's RTP pacing (bench/rtp_probe.py).
# Callers echo the server's RTP (-rtp_echo), as phones send their own:
# the server stops sending to, and then hangs up, a leg that sends nothing.
# Usage: bench/sip_load.sh [RATE...] -- [CONC...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p switchboard
BIN=target/release/switchboard
DATA=$(mktemp -d)
PHYSIO=+441632960003   # no menu: straight to the queue
ulimit -n 20000 || true
$BIN serve --data "$DATA" --listen 127.0.0.1:18181 --demo --demo-calls-per-minute 0 \
    --sip 127.0.0.1:15090 --prompts target/prompts-bench > "$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for i in $(seq 1 100); do curl -sf http://127.0.0.1:18181/healthz >/dev/null && break; sleep 0.2; done
rates=(); concs=(); seen=0
for a in "$@"; do if [ "$a" = "--" ]; then seen=1; elif [ $seen = 0 ]; then rates+=("$a"); else concs+=("$a"); fi; done
[ ${#rates[@]} -gt 0 ] || rates=(50 100 200)
[ ${#concs[@]} -gt 0 ] || concs=(100 250 500)
for r in "${rates[@]}"; do
    n=$((r * 20))
    (cd "$DATA" && sipp 127.0.0.1:15090 -sf "$OLDPWD/sipp/caller_wait.xml" -s $PHYSIO -d 1000 -rtp_echo \
        -r "$r" -m "$n" -l $((r * 4)) -i 127.0.0.1 -p 25500 -mp 30000 -nostdin -timeout 120 \
        -trace_stat -stf rate.csv > sipp.out 2>&1) && rc=0 || rc=$?
    ok=$(grep -a "Successful call" "$DATA/sipp.out" | tail -1 | awk '{print $(NF)}')
    bad=$(grep -a "Failed call" "$DATA/sipp.out" | tail -1 | awk '{print $(NF)}')
    echo "set-up rate $r/s: $n calls, successful $ok, failed $bad (sipp exit $rc)"
done
for c in "${concs[@]}"; do
    (cd "$DATA" && sipp 127.0.0.1:15090 -sf "$OLDPWD/sipp/caller_wait.xml" -s $PHYSIO -d 40000 -rtp_echo \
        -r 100 -m "$c" -l "$c" -i 127.0.0.1 -p 25600 -mp 40000 -nostdin -timeout 120 > conc.out 2>&1) &
    SIPP=$!
    sleep $((c / 100 + 8))
    out1=$(awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $5}' /proc/net/snmp); t1=$(date +%s.%N)
    cpu1=$(awk '{print $14+$15}' /proc/$SERVER/stat)
    echo -n "$c concurrent calls with media, probe: "
    python3 bench/rtp_probe.py 127.0.0.1:15090 $PHYSIO 10
    out2=$(awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $5}' /proc/net/snmp); t2=$(date +%s.%N)
    cpu2=$(awk '{print $14+$15}' /proc/$SERVER/stat)
    python3 -c "import sys; o1,o2,t1,t2,c1,c2=map(float,sys.argv[1:]); print('  UDP datagrams sent on the machine: %.0f/s; server CPU %.0f%% of one core' % ((o2-o1)/(t2-t1), (c2-c1)/100/(t2-t1)*100))" $out1 $out2 $t1 $t2 $cpu1 $cpu2
    wait $SIPP && rc=0 || rc=$?
    ok=$(grep -a "Successful call" "$DATA/conc.out" | tail -1 | awk '{print $(NF)}')
    bad=$(grep -a "Failed call" "$DATA/conc.out" | tail -1 | awk '{print $(NF)}')
    echo "  $c held calls: successful $ok, failed $bad (sipp exit $rc)"
done
