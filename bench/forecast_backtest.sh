#!/usr/bin/env bash
# The forecast's rolling-origin back-test beside the baselines and
# statsforecast (AutoETS, MSTL), on the shared bank data (with and without
# its holidays listed) and on a year of the simulator's own arrivals.
# Results go in BENCHMARKS.md ("Forecasts").
#
#   bench/forecast_backtest.sh            # builds the release binary if needed
#   BIN=path/to/switchboard NO_SF=1 bench/forecast_backtest.sh   # without statsforecast
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/switchboard}
[ -x "$BIN" ] || cargo build --release -p switchboard
PY=python3
SF=()
if [ -z "${NO_SF:-}" ]; then
  VENV=${VENV:-target/bench-venv}
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -c "import statsforecast" 2>/dev/null ||
    "$VENV/bin/pip" install -q statsforecast==2.0.1
  PY=$VENV/bin/python
else
  SF=(--no-statsforecast)
  "$PY" -c "import numpy" 2>/dev/null || { echo "needs numpy (or run without NO_SF)"; exit 1; }
fi
BANK=../shared/data/bank-callcentre-1999-jan-sep-6min.csv
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# 1999 holidays of the bank's calendar (Passover, Independence Day,
# Shavuot, Rosh Hashanah, Yom Kippur, Sukkot and their eves).
HOLIDAYS=1999-04-01,1999-04-07,1999-04-21,1999-05-21,1999-09-10,1999-09-11,1999-09-12,1999-09-19,1999-09-20,1999-09-24,1999-09-25,1999-09-26,1999-09-27,1999-09-28,1999-09-29,1999-09-30
echo "# forecast back-test, $(date -u +%F), $(nproc) CPUs, $(git rev-parse --short HEAD)"
"$PY" bench/forecast_backtest.py --bin "$BIN" --history "$BANK" --name "bank, no holidays given" "${SF[@]}"
"$PY" bench/forecast_backtest.py --bin "$BIN" --history "$BANK" --name "bank, its holidays given" --holidays "$HOLIDAYS" "${SF[@]}"
"$BIN" simulate --scenario bench/forecast-sim.toml --csv "$TMP/sim.csv" --quiet > /dev/null
"$PY" - "$TMP/sim.csv" "$TMP/sim-history.csv" <<'PY'
import csv, datetime as dt, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["dimension"] == "all" and r["interval_start_ms"] != "total"]
with open(sys.argv[2], "w") as f:
    f.write("date,interval_start,calls\n")
    for r in rows:
        t = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=int(r["interval_start_ms"]))
        f.write(f"{t:%Y-%m-%d},{t:%H:%M},{r['offered']}\n")
PY
"$PY" bench/forecast_backtest.py --bin "$BIN" --history "$TMP/sim-history.csv" --name "a year of simulated arrivals (bench/forecast-sim.toml)" "${SF[@]}"
