#!/usr/bin/env bash
# Checks the staff web application's JavaScript (crates/server/web) without
# a browser: starts `switchboard serve --demo` (no traffic, no SIP) on a
# free loopback port with a throw-away data directory, fetches the OpenAPI
# document, regenerates the API's types with openapi-typescript and fails
# if they differ from the committed crates/server/web/api.d.ts; then
# type-checks every module (// @ts-check, JSDoc) with tsc. The tools are
# the ones e2e/package-lock.json pins (npm ci in e2e/).
#
# Run: scripts/web_check.sh target/debug/switchboard
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:?usage: scripts/web_check.sh PATH-OF-switchboard}"
web=crates/server/web
bin=e2e/node_modules/.bin
for t in tsc openapi-typescript; do
    [ -x "$bin/$t" ] || { echo "error: $bin/$t is missing: run npm ci in e2e/" >&2; exit 1; }
done

tmp="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
base="http://127.0.0.1:$port"
SWITCHBOARD_LOG=warn "$binary" serve --demo --demo-calls-per-minute 0 --sip off \
    --data "$tmp/data" --listen "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
server=$!
for _ in $(seq 600); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { echo "error: the server stopped:" >&2; cat "$tmp/server.log" >&2; exit 1; }
    sleep 0.1
done

echo "== API types (crates/server/web/api.d.ts) against the served OpenAPI document"
curl -fsS "$base/api/v1/openapi.json" -o "$tmp/openapi.json"
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""
"$bin/openapi-typescript" "$tmp/openapi.json" -o "$tmp/api.d.ts" >/dev/null
if ! diff -u "$web/api.d.ts" "$tmp/api.d.ts" >"$tmp/api.diff"; then
    head -n 60 "$tmp/api.diff" >&2
    echo "error: crates/server/web/api.d.ts differs from the served OpenAPI document: regenerate with" >&2
    echo "  WEB_CHECK_WRITE=1 scripts/web_check.sh $binary" >&2
    echo "(which runs e2e/node_modules/.bin/openapi-typescript on /api/v1/openapi.json) and commit it" >&2
    if [ "${WEB_CHECK_WRITE:-}" = 1 ]; then
        cp "$tmp/api.d.ts" "$web/api.d.ts"
        echo "   written: crates/server/web/api.d.ts" >&2
    else
        exit 1
    fi
fi

echo "== tsc (crates/server/web/jsconfig.json)"
"$bin/tsc" -p "$web/jsconfig.json" --noEmit
echo "web check: ok"
