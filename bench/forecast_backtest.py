"""Rolling-origin back-test, side by side, on the same origins and data.

Switchboard's `forecast --backtest --json` gives its forecast at every
origin; this script scores it, the two baselines a planner could build in a
spreadsheet (the same interval last week; the same weekday and interval
averaged over the last 8 weeks) and statsforecast's AutoETS and MSTL, all
with one scorer, on the same days: the days Switchboard lists as holidays,
excluded or anomalies are left out of every method's score (and a second
score counts every day). Baselines and statsforecast see the raw history.

usage: python forecast_backtest.py --bin BIN --history CSV --name NAME
           [--calendar none] [--holidays D,D,...] [--no-statsforecast]
"""

import argparse
import csv
import datetime as dt
import json
import subprocess
import sys
import time
import warnings

import numpy as np

D = 48  # 30-minute intervals
W = 7 * D
H = 14 * D


def load(path):
    rows = list(csv.reader(open(path)))[1:]
    first = dt.date.fromisoformat(rows[0][0])
    assert rows[0][1] == "00:00", "the history must start at midnight"
    t0 = dt.datetime.fromisoformat(rows[0][0] + "T" + rows[0][1])
    t1 = dt.datetime.fromisoformat(rows[1][0] + "T" + rows[1][1])
    step = int((t1 - t0).total_seconds() // 60)
    per = 30 // step
    v = np.array([float(r[2]) for r in rows])
    v = v[: len(v) // per * per].reshape(-1, per).sum(1)
    return first, v


def score(a, f, ordinary_days):
    """WAPE per interval and per day, on ordinary days and on all days."""
    days = len(a) // D
    a, f = a[: days * D], f[: days * D]
    m = np.repeat(ordinary_days[:days], D)
    ad, fd = a.reshape(days, D).sum(1), f.reshape(days, D).sum(1)
    md = ordinary_days[:days]

    def w(x, y, k):
        return np.abs(x - y)[k].sum() / max(x[k].sum(), 1e-9)

    every = np.ones(days, bool)
    return (
        w(a, f, m),
        w(ad, fd, md),
        w(a, f, np.ones(len(a), bool)),
        w(ad, fd, every),
    )


def seasonal_naive(y):
    return np.array([y[len(y) - W + (i % W)] for i in range(H)])


def weekday_mean(y, k=8):
    n = len(y)
    k = min(k, n // W)
    return np.array(
        [np.mean([y[n - W * j + (i % W)] for j in range(1, k + 1)]) for i in range(H)]
    )


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--history", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--calendar", default="none")
    p.add_argument("--holidays", default="")
    p.add_argument("--no-statsforecast", action="store_true")
    a = p.parse_args()
    first, v = load(a.history)
    cmd = [
        a.bin, "forecast", "--history", a.history, "--interval", "30m",
        "--horizon", "14d", "--backtest", "--json", "--calendar", a.calendar,
    ]
    if a.holidays:
        cmd += ["--holidays", a.holidays]
    t0 = time.time()
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    wall = time.time() - t0
    ndays = len(v) // D
    ordinary = np.ones(ndays + 14, bool)
    odd = [x["date"] for x in out["anomalies"]] + out["holidays_in_history"] + out["excluded_dates"]
    for d in odd:
        k = (dt.date.fromisoformat(str(d)) - first).days
        if 0 <= k < len(ordinary):
            ordinary[k] = False
    origins = [(dt.date.fromisoformat(r["origin"]) - first).days for r in out["runs"]]
    methods = {"switchboard auto": [np.array(r["forecast"]) for r in out["runs"]]}
    methods["seasonal naive (last week)"] = [seasonal_naive(v[: o * D]) for o in origins]
    methods["weekday mean, 8 weeks"] = [weekday_mean(v[: o * D]) for o in origins]
    times = {"switchboard auto": out["seconds"]}
    if not a.no_statsforecast:
        import pandas as pd
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS

        warnings.filterwarnings("ignore")
        for name, model in [
            ("statsforecast AutoETS (daily season)", lambda: AutoETS(season_length=D)),
            (
                "statsforecast MSTL (daily+weekly, AutoETS trend)",
                lambda: MSTL(season_length=[D, W], trend_forecaster=AutoETS(model="ZZN")),
            ),
        ]:
            t = time.time()
            fcs = []
            for o in origins:
                y = v[: o * D]
                df = pd.DataFrame(
                    {
                        "unique_id": "a",
                        "ds": pd.date_range(str(first), periods=len(y), freq="30min"),
                        "y": y,
                    }
                )
                fc = StatsForecast(models=[model()], freq="30min").forecast(df=df, h=H)
                fcs.append(np.maximum(0.0, fc.iloc[:, -1].to_numpy()))
            methods[name] = fcs
            times[name] = time.time() - t
    print(f"\n## {a.name}: {len(origins)} origins ({out['origins'][0]} .. {out['origins'][-1]}), 14 days each, 30-minute intervals")
    print(f"Switchboard combined at the last origin: {', '.join(out['runs'][-1]['combined'])}; "
          f"days left out of the ordinary-day score: {int((~ordinary[:ndays]).sum())}; "
          f"its whole back-test took {out['seconds']:.3f} s inside the command ({wall:.2f} s with start-up and reading)")
    print()
    print("| method | WAPE interval | (min-max) | WAPE day | (min-max) | all days: interval | all days: day | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, fcs in methods.items():
        s = np.array([score(v[o * D : o * D + H], f, ordinary[o : o + 14]) for o, f in zip(origins, fcs)])
        secs = f"{times[name]:.2f}" if name in times else ""
        print(
            f"| {name} | {s[:,0].mean()*100:.2f}% | {s[:,0].min()*100:.1f}-{s[:,0].max()*100:.1f} "
            f"| {s[:,1].mean()*100:.2f}% | {s[:,1].min()*100:.1f}-{s[:,1].max()*100:.1f} "
            f"| {s[:,2].mean()*100:.2f}% | {s[:,3].mean()*100:.2f}% | {secs} |"
        )
    print(f"\n80% band held {out['coverage80']*100:.1f}%, 95% band {out['coverage95']*100:.1f}% of back-test intervals (leave one origin out)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
