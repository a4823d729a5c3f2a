#!/usr/bin/env bash
# The NHS 111 year's weekly shape (bench/nhs111-year.toml): its rota (the
# same four shifts every day, 1,070 people) against a suggested weekly
# rota (`rota --weekly`), both run through the simulator for 4 weeks by
# `whatif`. Results in BENCHMARKS.md ("Weekly rotas").
#
#   bench/weekly_rota.sh        # builds the release binary if needed
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/switchboard}
[ -x "$BIN" ] || cargo build --release -p switchboard
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
WEEKS=${WEEKS:-4}
python3 - "$TMP" "$WEEKS" <<'PY'
import datetime as dt, re, sys
tmp, weeks = sys.argv[1], int(sys.argv[2])
toml = open("bench/nhs111-year.toml").read()
per_hour = [float(x) for x in re.findall(r"[\d.]+", re.search(r"per_hour = \[(.*?)\]", toml, re.S).group(1))]
assert len(per_hour) == 168
start = dt.date(2027, 1, 4)  # a Monday: the profile runs Monday to Sunday
with open(f"{tmp}/forecast.csv", "w") as f:
    f.write("date,interval_start,calls\n")
    for d in range(7 * weeks):
        for k in range(48):
            f.write(f"{start + dt.timedelta(d)},{k // 2:02}:{k % 2 * 30:02},{per_hour[(d % 7) * 24 + k // 2] / 2:.2f}\n")
shifts = [("night", 150, "22:00", "07:00", "02:00", "02:30"), ("early", 300, "07:00", "15:00", "11:00", "11:30"),
          ("day", 220, "09:00", "17:00", "13:00", "13:30"), ("late", 420, "15:00", "23:00", "19:00", "19:30")]
with open(f"{tmp}/scenario-rota.csv", "w") as f:
    f.write("who,date,start,end,break_start,break_end\n")
    for d in range(7 * weeks):
        for name, n, s, e, b0, b1 in shifts:
            for i in range(n):
                f.write(f"{name}{i},{start + dt.timedelta(d)},{s},{e},{b0},{b1}\n")
PY
"$BIN" staff --calls-csv "$TMP/forecast.csv" --interval 30m --aht 8m --patience 5m --target 95/60 > "$TMP/requirement.csv"
START=$(date +%s.%N)
"$BIN" rota --requirement "$TMP/requirement.csv" --weekly --shift-lengths ${LENGTHS:-8h,9h} --cycle-weeks "$WEEKS" --rota-out "$TMP/weekly-rota.csv" --max-new 5000 > "$TMP/lines.txt"
head -2 "$TMP/lines.txt"
echo "rota --weekly took $(echo "$(date +%s.%N) - $START" | bc) s"
"$BIN" rota --requirement "$TMP/requirement.csv" --shifts "$TMP/scenario-rota.csv" > /dev/null 2> "$TMP/cov.txt"; echo "scenario rota: $(cat "$TMP/cov.txt")"
"$BIN" rota --requirement "$TMP/requirement.csv" --shifts "$TMP/weekly-rota.csv" > /dev/null 2> "$TMP/cov.txt"; echo "weekly rota:   $(cat "$TMP/cov.txt")"
echo
echo "| rota | people | paid hours a week | SL in 60 s | weekdays | weekends | abandoned | ASA |"
echo "|---|---|---|---|---|---|---|---|"
for r in scenario-rota weekly-rota; do
  "$BIN" whatif --forecast "$TMP/forecast.csv" --rota "$TMP/$r.csv" --aht 8m --patience 5m --target 95/60 --json > "$TMP/$r.json"
  python3 - "$TMP/$r.json" "$TMP/$r.csv" "$r" "$TMP/forecast.csv" <<'PY'
import csv, datetime as dt, json, sys
v = json.load(open(sys.argv[1]))
rows = list(csv.reader(open(sys.argv[4])))[1:]
hours = 0.0
for r in list(csv.reader(open(sys.argv[2])))[1:]:
    s = int(r[2][:2]) * 60 + int(r[2][3:]); e = int(r[3][:2]) * 60 + int(r[3][3:])
    hours += ((e - s) % 1440) / 60
weeks = len(rows) / 336
def sl(pred):
    return sum(p["service_level"] * p["offered"] for p in pred if p["service_level"] is not None) / max(1, sum(p["offered"] for p in pred if p["service_level"] is not None))
we = [p for r, p in zip(rows, v["intervals"]) if dt.date.fromisoformat(r[0]).weekday() >= 5]
wd = [p for r, p in zip(rows, v["intervals"]) if dt.date.fromisoformat(r[0]).weekday() < 5]
o = v
print(f"| {sys.argv[3]} | {v['agents']} | {hours / weeks:,.0f} | {o['service_level']*100:.1f}% | {sl(wd)*100:.1f}% | {sl(we)*100:.1f}% | {o['abandonment_rate']*100:.1f}% | {o['asa_seconds']:.1f} s |")
PY
done
