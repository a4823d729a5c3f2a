#!/usr/bin/env bash
# Runs every test of the project. Installs what the tests need on a fresh
# machine: from Debian, sip-tester (SIPp, the telephony journeys),
# espeak-ng and sox (spoken prompts), chromium (the browser journeys),
# oathtool (authenticator codes), openssl and curl (TLS peers),
# dovecot-imapd and python3-aiosmtpd (real mail servers), postgresql
# (the store's conformance suite);
# from the npm registry, playwright-core at the version
# e2e/package-lock.json pins (with axe-core, typescript and
# openapi-typescript); from PyPI, schemathesis,
# openapi-spec-validator and fhir.resources (pinned below).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
# Real mail servers for the email journeys (scripts/mail_peers.py):
# Dovecot (IMAP) and aiosmtpd (SMTP, under Debian's own python3).
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
# PostgreSQL's server binaries for the store's conformance suite
# (crates/store/tests/conformance.rs starts its own cluster).
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Without them the server's prompts silently become beeps; the telephony
# tests would then fail on "not speech", so say why here. The prompt cache
# is made afresh each run (a cache from an earlier run could hide a break).
for t in espeak-ng sox; do
    command -v "$t" >/dev/null 2>&1 || { echo "error: $t is missing: spoken prompts need espeak-ng and sox" >&2; exit 1; }
done
rm -rf target/tmp/prompts

echo "== format"
cargo fmt --all -- --check

echo "== lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== doc tests"
cargo test --workspace --locked --doc

# playwright-core drives Chromium in the browser journeys and in the
# softphone test (crates/switchboard/tests/softphone.rs).
echo "== playwright-core (npm ci in e2e/)"
(cd e2e && npm ci --no-audit --no-fund --silent)

echo "== tests"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi

echo "== the benchmarks' own checks (replay gives the same events, a restart finds its snapshot, searches stay in range, softphone calls carry audio both ways), small and unoptimised: their timings mean nothing here"
BENCH_OPS=20000 REC_SECONDS=20 RECOVER_INPUTS=20000 RECOVER_TAIL=2000 DOS_ROUNDS=1 DOS_DISTRICTS=300 \
    SOFTPHONE_CALLS=10 SOFTPHONE_SECONDS=2 CHAT_BENCH_CHATS=100 CHAT_BENCH_SAMPLES=100 \
    cargo test --locked -q -p routing --bench routing -p store --bench recover -p dos --bench search -p app --bench recording \
    -p voice --bench softphone -p switchboard --bench chat

cargo build --locked -q -p switchboard

echo "== the API against its document (openapi-spec-validator, schemathesis) and FHIR's models"
python3 -m pip install --quiet --disable-pip-version-check \
    schemathesis==4.32.5 openapi-spec-validator==0.9.0 fhir.resources==8.1.0
python3 scripts/api_check.py target/debug/switchboard

echo "== GOV.UK Notify: the stand-in against the official Python client, and our JWT through its decoder"
notify_key="switchboard_check-26785a09-ab16-4eb0-8407-a37497a57506-3d844edf-8d35-48ac-975b-e847b4f122b0"
key_file="$(mktemp)"
printf '%s' "$notify_key" > "$key_file"
SWITCHBOARD_NOTIFY_KEY="$notify_key" \
    SWITCHBOARD_NOTIFY_TOKEN="$(target/debug/switchboard notify token --api-key-file "$key_file")" \
    python3 scripts/notify_check.py
rm -f "$key_file"

echo "== real mail servers (Dovecot, aiosmtpd): the peers the email tests use, checked with Python's imaplib and smtplib"
python3 scripts/mail_peers_check.py

echo "== the web application's JavaScript: API types current with the OpenAPI document, tsc --noEmit over every module"
scripts/web_check.sh target/debug/switchboard

echo "== browser journeys (headless Chromium; axe-core on every page for every role, 320 px reflow, keyboard only)"
node e2e/journeys.mjs target/debug/switchboard
echo "== web chat in the browser: a patient on a phone-sized page and an agent, the network cut, axe-core"
node e2e/chat.mjs target/debug/switchboard
