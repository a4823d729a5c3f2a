#!/usr/bin/env bash
# The wallboard at NHS 111 scale (issue 25): the demo trust with 5,000
# ready agents and 50,000 waiting email contacts (bench/wallboard_load.mjs
# fills it and measures the routing probe idle and under 100 subscribed
# wallboards + 20 polling integrations, and 1,000 subscribed wallboards),
# then GET /api/v1/kpis with wrk (2 threads x 32 connections, 10 s, three
# runs). Needs wrk (apt-get install -y wrk) and Node.
#
# BIN=path/to/switchboard runs another build (e.g. an older commit, with
# MODE=poll if it has no /api/v1/kpis/stream); AGENTS= and WAITING= change
# the size; SERVER_LOG=FILE keeps the server's log (with SWITCHBOARD_LOG=debug:
# how long each snapshot took to build).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p switchboard
  BIN=target/release/switchboard
fi
DATA=$(mktemp -d)
PORT=${PORT:-18131}
ADDR=127.0.0.1:$PORT
"$BIN" serve --demo --demo-calls-per-minute 0 --sip off --data "$DATA" --listen "$ADDR" 2>"${SERVER_LOG:-/dev/null}" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
until curl -sf "http://$ADDR/healthz" >/dev/null; do sleep 0.1; done
login() { curl -sf -c - -H 'content-type: application/json' \
  -d "{\"username\":\"$1\",\"password\":\"switchboard-demo\"}" \
  "http://$ADDR/api/v1/session" | awk '$6=="sb_session"{print "sb_session="$7}'; }
export SB_ADMIN=$(login kent.admin)
export SB_COOKIE=$(login kent.supervisor)
export SB_BEARER="Bearer $(curl -sf -b "$SB_ADMIN" -H 'content-type: application/json' \
  -d '{"name":"load","scopes":["contacts"]}' "http://$ADDR/api/v1/tokens" |
  python3 -c "import json,sys;print(json.load(sys.stdin)['secret'])")"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "== $("$BIN" --version 2>/dev/null || echo "$BIN") on $(nproc) cores, $(date -u +%FT%TZ)"
PID=$PID node bench/wallboard_load.mjs "$ADDR"
for i in 1 2 3; do
  out=$(wrk -t2 -c32 -d10s -s bench/wrk/read.lua "http://$ADDR/api/v1/kpis" -- "$i")
  echo "GET /kpis run $i: $(echo "$out" | grep Requests/sec | tr -s ' ') $(echo "$out" | grep LAT)"
done
echo "server RSS at the end: $(awk '/VmRSS/{print int($2/1024)" MiB"}' /proc/$PID/status)"
