#!/usr/bin/env bash
# Load on `switchboard serve` over loopback with wrk (Debian): committed
# writes (POST /api/v1/contacts, one SQLite commit with synchronous=FULL
# each), reads of a contact and of the wallboard KPIs, and live-stream
# subscribers (bench/sse_subscribers.mjs, Node). Three runs of each wrk case;
# prints every run (take the median). Needs: wrk (apt-get install -y wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install -y wrk" >&2; exit 1; }
# BIN: another build to measure (side by side); SKIP_SSE=1: the wrk cases only.
if [ -z "${BIN:-}" ]; then cargo build --release -q -p switchboard; BIN=target/release/switchboard; fi
DATA=$(mktemp -d)
PORT=${PORT:-18130}
ADDR=127.0.0.1:$PORT
# Every subscriber below comes from this one address: allow them all.
LIMITS=()
if "$BIN" serve --help | grep -c -- --max-connections-per-address >/dev/null; then
  LIMITS=(--max-connections 20000 --max-connections-per-address 20000)
fi
"$BIN" serve --demo --demo-calls-per-minute 0 --data "$DATA" --listen "$ADDR" "${LIMITS[@]}" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DATA"' EXIT
until curl -sf "http://$ADDR/healthz" >/dev/null; do sleep 0.1; done
# Every request is authenticated, as in production: writes come from an
# integration (a bearer token), reads from a supervisor's session cookie.
login() { curl -sf -c - -H 'content-type: application/json' \
  -d "{\"username\":\"$1\",\"password\":\"switchboard-demo\"}" \
  "http://$ADDR/api/v1/session" | awk '$6=="sb_session"{print "sb_session="$7}'; }
ADMIN=$(login kent.admin)
export SB_COOKIE=$(login kent.supervisor)
export SB_BEARER=$(curl -sf -b "$ADMIN" -H 'content-type: application/json' \
  -d '{"name":"load","scopes":["contacts"]}' "http://$ADDR/api/v1/tokens" |
  python3 -c "import json,sys;print(json.load(sys.stdin)['secret'])")
run() { # name, wrk args...
  local name=$1; shift
  for i in 1 2 3; do
    out=$(wrk -t2 -c32 -d10s "$@" -- "$i")
    echo "$name run $i: $(echo "$out" | grep Requests/sec | tr -s ' ') $(echo "$out" | grep LAT)"
  done
}
run "write POST /contacts" -s bench/wrk/create_contacts.lua "http://$ADDR"
ID=$(curl -s -b "$SB_COOKIE" "http://$ADDR/api/v1/queues/3/waiting" | python3 -c "import json,sys;print(json.load(sys.stdin)['waiting'][0])")
LIVE=$(curl -s -b "$SB_COOKIE" "http://$ADDR/api/v1/kpis" | python3 -c "import json,sys;print(sum(q['waiting'] for q in json.load(sys.stdin)['queues']))")
echo "waiting contacts after the writes: $LIVE"
run "read GET /contacts/ID" -s bench/wrk/read.lua "http://$ADDR/api/v1/contacts/$ID"
run "read GET /kpis" -s bench/wrk/read.lua "http://$ADDR/api/v1/kpis"
# Live-stream subscribers (Node client; each subscriber is an open file in
# both processes, so the count is bounded by `ulimit -n`).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ -n "${SKIP_SSE:-}" ] && exit 0
for N in 1000 5000 9000; do
  node bench/sse_subscribers.mjs "$ADDR" "$N" 200
done
