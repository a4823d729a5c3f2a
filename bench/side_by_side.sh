#!/usr/bin/env bash
# Side by side, in one run on this machine: Switchboard's simulator (the
# real routing and KPI engines) against Ciw and SimPy on the same single
# queue with abandonment, and Switchboard's staffing maths against
# pyworkforce. Prints a table of figures, calls per second and ratios.
#
#   bash bench/side_by_side.sh            # default sizes (a few minutes)
#   HOURS_SMALL=200 HOURS_NHS=20 bash bench/side_by_side.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOURS_SMALL=${HOURS_SMALL:-400}
HOURS_NHS=${HOURS_NHS:-20}
python3 -c 'import ciw, simpy, pyworkforce' 2>/dev/null || pip install --quiet ciw simpy pyworkforce
cargo build --release --locked -p switchboard >/dev/null 2>&1
SB=./target/release/switchboard

run_model() { # name rate_per_min aht_s agents patience_s target_s hours
  local name=$1 rate=$2 aht=$3 agents=$4 pat=$5 target=$6 hours=$7
  local sb ciw simpy
  sb=$($SB simulate --arrival-rate "$rate/min" --aht "${aht}s" --agents "$agents" --patience "${pat}s" \
        --target "80/$target" --hours "$hours" --seed 7 --json --quiet)
  ciw=$(python3 bench/peers.py ciw --rate-per-min "$rate" --aht-s "$aht" --agents "$agents" --patience-s "$pat" \
        --hours "$hours" --seed 7 --target-s "$target")
  simpy=$(python3 bench/peers.py simpy --rate-per-min "$rate" --aht-s "$aht" --agents "$agents" --patience-s "$pat" \
        --hours "$hours" --seed 7 --target-s "$target")
  local exact
  exact=$($SB staff --calls "$(python3 -c "print($rate*60)")" --interval 1h --aht "${aht}s" --target "80/$target" \
        --patience "${pat}s" --agents "$agents" --json)
  python3 - "$name" "$sb" "$ciw" "$simpy" "$exact" <<'PY'
import json, sys
name, sb, ciw, simpy, exact = sys.argv[1], *map(json.loads, sys.argv[2:])
print(f"\n## {name}")
print(f"{'':<14}{'offered':>10}{'SL':>9}{'abandon':>9}{'ASA s':>8}{'wall s':>9}{'calls/s':>12}")
def row(label, d, offered, sl, ab, asa, wall, cps):
    print(f"{label:<14}{offered:>10}{sl:>9.4f}{ab:>9.4f}{asa:>8.2f}{wall:>9.2f}{cps:>12,.0f}")
row("switchboard", sb, sb["offered"], sb["service_level"], sb["abandon_rate"], sb["asa_seconds"], sb["wall_seconds"], sb["calls_per_second"])
for label, d in (("ciw", ciw), ("simpy", simpy)):
    if d.get("available") is False:
        print(f"{label:<14} unavailable: {d.get('error')}"); continue
    ab = d["abandoned"] / d["offered"]
    row(label, d, d["offered"], d["service_level"], ab, d["asa_seconds"], d["wall_seconds"], d["calls_per_second"])
print(f"{'Erlang A':<14}{'':>10}{exact['service_level']:>9.4f}{exact['abandon_probability']:>9.4f}{exact['asa_seconds']:>8.2f}")
for label, d in (("ciw", ciw), ("simpy", simpy)):
    if d.get("calls_per_second"):
        print(f"speed ratio switchboard / {label}: {sb['calls_per_second'] / d['calls_per_second']:,.0f}x")
PY
}

echo "# Side by side, $(date -u +%F), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs"
run_model "M/M/8+M: 4.2 calls/min, AHT 120 s, 8 agents, patience 60 s, ${HOURS_SMALL} h" 4.2 120 8 60 20 "$HOURS_SMALL"
run_model "NHS 111 scale: 41.5 calls/min, AHT 480 s, 340 agents, patience 300 s, ${HOURS_NHS} h" 41.5 480 340 300 60 "$HOURS_NHS"

echo
echo "## Staffing: switchboard staff vs pyworkforce (100 calls / 30 min, AHT 180 s, 14 agents, 80/20)"
$SB staff --calls 100 --interval 30m --aht 180s --target 80/20 --agents 14 --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("switchboard  P(wait) %.5f  SL %.5f  ASA %.3f s  occupancy %.4f" % (d["probability_wait"], d["service_level"], d["asa_seconds"], d["occupancy"]))'
python3 bench/peers.py erlang --calls 100 --interval-min 30 --aht-s 180 --agents 14 --target-s 20 | python3 -c 'import json,sys; d=json.load(sys.stdin); c=d["erlang_c"]; print("pyworkforce  P(wait) %.5f  SL %.5f  ASA %.3f s  occupancy %.4f  (version %s; required agents for 80%%: %s)" % (c["probability_wait"], c["service_level"], c["asa_seconds"], c["occupancy"], d["version"], d["required_agents"]))'
echo
echo "## switchboard staff at 1,000 agents (Erlang A, 20,000 calls/h, AHT 180 s, patience 120 s, 90/20): wall time"
python3 - <<'PY'
import subprocess, time
ts = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run(["./target/release/switchboard", "staff", "--calls", "20000", "--interval", "1h", "--aht", "180s", "--target", "90/20", "--patience", "120s", "--json"], check=True, capture_output=True)
    ts.append(time.perf_counter() - t)
ts.sort()
print(f"median {ts[2]*1000:.1f} ms over 5 runs (min {ts[0]*1000:.1f}, max {ts[-1]*1000:.1f}), process start included")
PY
