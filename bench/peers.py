#!/usr/bin/env python3
"""Side-by-side check of Switchboard's staffing maths and simulator against
independent Python implementations.

Three peers, one subcommand each, each printing exactly one JSON object on
stdout:

  erlang  pyworkforce's ErlangC (and ErlangA where the installed pyworkforce
          has it) for one interval's staffing: service level, P(wait), ASA,
          occupancy, abandonment, agents needed for a service-level goal.
  ciw     a single M/M/N queue (M/M/N+M with --patience-s: exponential
          patience, callers renege) simulated with Ciw.
  simpy   the same queue written directly in SimPy: a Resource with N
          servers, each caller waits on `request | timeout(patience)`.

Install the peers with `pip install ciw simpy pyworkforce`. Each package is
imported only by its own subcommand, so one that is missing or broken does
not stop the others; its subcommand then prints
{"available": false, "error": ...} and exits with status 3. Bad arguments
exit with status 2 (argparse) and a message on stderr.

Examples:
  python3 bench/peers.py erlang --calls 100 --interval-min 30 --aht-s 180 \
      --agents 14 --target-s 20 [--patience-s 300]
  python3 bench/peers.py ciw   --rate-per-min 4.2 --aht-s 120 --agents 12 \
      [--patience-s 60] --hours 200 --seed 7 --target-s 20
  python3 bench/peers.py simpy --rate-per-min 4.2 --aht-s 120 --agents 12 \
      [--patience-s 60] --hours 200 --seed 7 --target-s 20

Definitions used by both simulators (time is in seconds inside the models):
  offered                 callers arriving in [0, hours)
  answered                callers whose service started before the end
  abandoned               callers whose patience ran out while queued
  waiting_at_end          callers still queued when the run stops
                          (offered = answered + abandoned + waiting_at_end)
  answered_within_target  answered with wait <= --target-s
  service_level           answered_within_target / offered (abandoned and
                          still-waiting callers count against it)
  asa_seconds             mean wait of the answered callers only
  occupancy               agent-busy seconds inside [0, hours) / (N * hours)
  wall_seconds            time.perf_counter() around the simulation run only
                          (not model construction, not result collection)
There is no warm-up: the queue starts empty, which biases short runs a
little towards better service.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import random
import sys
import time
from importlib import metadata

EXIT_UNAVAILABLE = 3

# Refuse runs whose expected number of arrivals is above this (see --max-calls).
DEFAULT_MAX_CALLS = 5_000_000


# --------------------------------------------------------------------------
# helpers


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _import(module: str, dist: str):
    """Import a peer package; return (module, None) or (None, error text)."""
    try:
        return importlib.import_module(module), None
    except Exception as exc:  # ImportError, or anything its import raises
        hint = f"; install it with: pip install {dist}" if _version(dist) is None else ""
        return None, f"{type(exc).__name__}: {exc}{hint}"


def _emit(obj: dict, code: int = 0) -> None:
    print(json.dumps(obj, indent=2, allow_nan=False, default=str))
    sys.exit(code)


def _unavailable(tool: str, dist: str, error: str) -> None:
    _emit(
        {"tool": tool, "available": False, "version": _version(dist), "error": error},
        EXIT_UNAVAILABLE,
    )


def _finite(x):
    """JSON has no inf/nan: map them to None."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be an integer > 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text!r}")
    return value


# --------------------------------------------------------------------------
# erlang: pyworkforce
#
# pyworkforce API notes (read from its source, versions 0.5.1 and 0.5.4):
# - ErlangC(transactions, aht, asa, interval, shrinkage=0.0). `transactions`
#   are the calls in one interval; `aht`, `asa` and `interval` are documented
#   as minutes. Only ratios are used (load = transactions / interval * aht,
#   SL = 1 - Pw * exp(-(N - A) * asa / aht)), so any one unit works; we pass
#   minutes, as documented.
# - Its `asa` argument is NOT an average speed of answer: it is the service
#   level's target answer time (20 s -> asa=20/60).
# - ErlangC has no ASA method. We derive ASA = Pw * AHT / (N - A) from its
#   waiting_probability; the JSON says so.
# - waiting_probability / service_level in 0.5.1 return meaningless numbers
#   when N <= A (0.5.4 raises ValueError); we check stability first.
# - required_positions(service_level, max_occupancy=1.0) returns a dict; its
#   "raw_positions" is the agent count before shrinkage (0 here). Its search
#   starts at round(A + 1), never below.
# - ErlangA (M/M/N+M) only exists from pyworkforce 0.5.3 on; 0.5.2+ require
#   Python >= 3.12; on Python 3.11 pip installs 0.5.1, which has no Erlang A.
#   ErlangA(transactions, aht, asa, interval, patience, shrinkage=0.0), all
#   times in minutes. Its average_speed_of_answer() is the mean wait over ALL
#   arrivals (queue length / arrival rate, abandoners included), not the mean
#   wait of the answered; its service_level() is P(answered within target)
#   over all arrivals. Both are labelled accordingly below.
#
# Check against the known Erlang C reference (100 calls / 30 min, AHT 180 s,
# 14 agents, 20 s): pyworkforce 0.5.1 gives P(wait) 0.17412, SL 0.88843,
# ASA (derived) 7.836 s, occupancy 0.7143 -- the reference values.
# Erlang A check (pyworkforce 0.5.4's code, 252 calls / 60 min, AHT 120 s,
# 8 agents, patience 60 s, 20 s): P(abandon) 0.18361, SL 0.66410 -- the
# reference values; its mean wait over all arrivals is 11.02 s, which is
# not the reference ASA of 9.30 s (mean wait of the answered).


def cmd_erlang(args: argparse.Namespace) -> None:
    pwf, error = _import("pyworkforce.queuing", "pyworkforce")
    if pwf is None:
        _unavailable("pyworkforce", "pyworkforce", error)
    version = _version("pyworkforce")

    minutes = 60.0
    aht_min = args.aht_s / minutes
    target_min = args.target_s / minutes
    load = args.calls / args.interval_min * aht_min  # Erlangs
    n = args.agents

    out: dict = {
        "tool": "pyworkforce",
        "available": True,
        "version": version,
        "inputs": {
            "calls": args.calls,
            "interval_min": args.interval_min,
            "aht_s": args.aht_s,
            "agents": n,
            "target_s": args.target_s,
            "patience_s": args.patience_s,
            "service_level_goal": args.sl_goal,
        },
        "units": "pyworkforce is called with aht, asa (= SL target time) and interval "
        "in minutes; results converted to seconds here",
        "offered_load_erlangs": load,
    }

    erlang_c = pwf.ErlangC(
        transactions=args.calls, aht=aht_min, asa=target_min, interval=args.interval_min
    )
    if n > load:
        p_wait = erlang_c.waiting_probability(positions=n)
        out["erlang_c"] = {
            "stable": True,
            "probability_wait": p_wait,
            "service_level": erlang_c.service_level(positions=n),
            "asa_seconds": p_wait * args.aht_s / (n - load),
            "asa_source": "derived here as P(wait) * AHT / (N - A) from pyworkforce's "
            "waiting_probability (ErlangC has no ASA method)",
            "occupancy": erlang_c.achieved_occupancy(positions=n),
        }
    else:
        out["erlang_c"] = {
            "stable": False,
            "note": f"{n} agents <= offered load {load:.3f} Erlangs: Erlang C has no "
            "steady state (pyworkforce is not called, its 0.5.1 formulas return "
            "meaningless numbers here)",
        }
    req = erlang_c.required_positions(service_level=args.sl_goal)
    out["required_agents"] = req["raw_positions"]
    out["required_agents_detail"] = {
        "model": "erlang_c",
        "service_level_goal": args.sl_goal,
        "service_level": req["service_level"],
        "occupancy": req["occupancy"],
        "probability_wait": req["waiting_probability"],
    }

    if args.patience_s is not None:
        erlang_a_cls = getattr(pwf, "ErlangA", None)
        if erlang_a_cls is None:
            out["erlang_a"] = (
                f"unavailable in pyworkforce {version} (ErlangA first appears in "
                "0.5.3, which needs Python >= 3.12)"
            )
        else:
            ea = erlang_a_cls(
                transactions=args.calls,
                aht=aht_min,
                asa=target_min,
                interval=args.interval_min,
                patience=args.patience_s / minutes,
            )
            out["erlang_a"] = {
                "probability_wait": ea.waiting_probability(positions=n),
                "probability_abandon": ea.abandonment_probability(positions=n),
                "service_level": ea.service_level(positions=n),
                "service_level_definition": "P(answered within target), over all arrivals",
                "mean_wait_all_arrivals_seconds": ea.average_speed_of_answer(positions=n)
                * minutes,
                "mean_wait_note": "pyworkforce's average_speed_of_answer: queue length / "
                "arrival rate, i.e. over ALL arrivals including abandoners; it is not "
                "the mean wait of the answered",
                "occupancy": ea.achieved_occupancy(positions=n),
                "average_queue_length": ea.average_queue_length(positions=n),
            }
            req_a = ea.required_positions(service_level=args.sl_goal)
            out["required_agents_erlang_a"] = req_a["raw_positions"]
    _emit(out)


# --------------------------------------------------------------------------
# simulation: shared pieces


def _sim_summary(
    tool: str,
    version: str | None,
    args: argparse.Namespace,
    offered: int,
    answered: int,
    abandoned: int,
    within: int,
    wait_sum: float,
    busy_seconds: float,
    wall: float,
) -> dict:
    horizon = args.hours * 3600.0
    return {
        "tool": tool,
        "available": True,
        "version": version,
        "model": "M/M/N+M (exponential patience)" if args.patience_s else "M/M/N",
        "inputs": {
            "rate_per_min": args.rate_per_min,
            "aht_s": args.aht_s,
            "agents": args.agents,
            "patience_s": args.patience_s,
            "hours": args.hours,
            "seed": args.seed,
            "target_s": args.target_s,
        },
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "waiting_at_end": offered - answered - abandoned,
        "answered_within_target": within,
        "service_level": within / offered if offered else None,
        "abandon_rate": abandoned / offered if offered else None,
        "asa_seconds": wait_sum / answered if answered else None,
        "occupancy": busy_seconds / (args.agents * horizon),
        "wall_seconds": round(wall, 4),
        "calls_per_second": round(offered / wall, 1) if wall > 0 else None,
    }


def _check_size(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    expected = args.rate_per_min * 60.0 * args.hours
    if expected > args.max_calls:
        parser.error(
            f"--rate-per-min {args.rate_per_min} for --hours {args.hours} means about "
            f"{expected:,.0f} calls, above --max-calls {args.max_calls:,}; lower --hours"
        )


# --------------------------------------------------------------------------
# ciw
#
# Ciw 3.x API (read from ciw 3.2.7's source): create_network(
# arrival_distributions=[...], service_distributions=[...],
# number_of_servers=[N], reneging_time_distributions=[...]) -- one list entry
# per node; ciw.dists.Exponential(rate=...) takes a RATE. Reneging applies
# only while queued (never during service) and writes a record with
# record_type "renege". ciw.seed(z) seeds `random` and Ciw's numpy generator.
# get_all_records(include_incomplete=True) adds one "incomplete" record for
# each caller still in the node at the end (in service: service_start_date
# set; queued: None). With a single node and an infinite queue every arrival
# ends with exactly one record: "service", "renege" or "incomplete".
# Note Ciw scans every server and every queued caller at each event, so its
# cost per call grows with N and with the queue.


def cmd_ciw(args: argparse.Namespace) -> None:
    ciw, error = _import("ciw", "ciw")
    if ciw is None:
        _unavailable("ciw", "ciw", error)

    horizon = args.hours * 3600.0  # the model's time unit is the second
    network_args = {
        "arrival_distributions": [ciw.dists.Exponential(rate=args.rate_per_min / 60.0)],
        "service_distributions": [ciw.dists.Exponential(rate=1.0 / args.aht_s)],
        "number_of_servers": [args.agents],
    }
    if args.patience_s is not None:
        network_args["reneging_time_distributions"] = [
            ciw.dists.Exponential(rate=1.0 / args.patience_s)
        ]
    network = ciw.create_network(**network_args)
    ciw.seed(args.seed)
    sim = ciw.Simulation(network)

    start = time.perf_counter()
    sim.simulate_until_max_time(horizon)
    wall = time.perf_counter() - start

    offered = answered = abandoned = within = 0
    wait_sum = busy = 0.0
    for rec in sim.get_all_records(include_incomplete=True):
        offered += 1
        if rec.record_type == "renege":
            abandoned += 1
            continue
        if rec.record_type == "incomplete" and rec.service_start_date is None:
            continue  # still queued at the end
        if rec.record_type not in ("service", "incomplete"):
            raise RuntimeError(f"unexpected Ciw record type {rec.record_type!r}")
        answered += 1
        wait_sum += rec.waiting_time
        if rec.waiting_time <= args.target_s:
            within += 1
        end = rec.service_end_date if rec.record_type == "service" else horizon
        busy += min(end, horizon) - rec.service_start_date

    _emit(
        _sim_summary(
            "ciw", _version("ciw"), args, offered, answered, abandoned, within, wait_sum, busy, wall
        )
    )


# --------------------------------------------------------------------------
# simpy
#
# SimPy 4 API: Environment, Resource(env, capacity=N); `with res.request() as
# req:` releases (or cancels, if never granted) on leaving the block;
# `yield req | env.timeout(p)` resumes with a ConditionValue, and
# `req in result` tells whether the agent was granted first -- the renege
# pattern of SimPy's own bank example. Random numbers come from one
# random.Random(seed), so the run is reproducible.


def cmd_simpy(args: argparse.Namespace) -> None:
    simpy, error = _import("simpy", "simpy")
    if simpy is None:
        _unavailable("simpy", "simpy", error)

    horizon = args.hours * 3600.0
    lam = args.rate_per_min / 60.0
    mu = 1.0 / args.aht_s
    theta = 1.0 / args.patience_s if args.patience_s is not None else None
    target = args.target_s
    rng = random.Random(args.seed)

    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=args.agents)
    stats = {"offered": 0, "answered": 0, "abandoned": 0, "within": 0, "wait": 0.0, "busy": 0.0}

    def caller(arrived: float):
        with agents.request() as req:
            if theta is None:
                yield req
            else:
                result = yield req | env.timeout(rng.expovariate(theta))
                if req not in result:
                    stats["abandoned"] += 1
                    return
            wait = env.now - arrived
            stats["answered"] += 1
            stats["wait"] += wait
            if wait <= target:
                stats["within"] += 1
            service = rng.expovariate(mu)
            stats["busy"] += min(service, horizon - env.now)
            yield env.timeout(service)

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(lam))
            stats["offered"] += 1
            env.process(caller(env.now))

    env.process(arrivals())

    start = time.perf_counter()
    env.run(until=horizon)
    wall = time.perf_counter() - start

    _emit(
        _sim_summary(
            "simpy",
            _version("simpy"),
            args,
            stats["offered"],
            stats["answered"],
            stats["abandoned"],
            stats["within"],
            stats["wait"],
            stats["busy"],
            wall,
        )
    )


# --------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peers.py",
        description="Side-by-side check of Switchboard's staffing maths and simulator "
        "against independent Python implementations (pyworkforce, Ciw, SimPy). "
        "Prints one JSON object on stdout.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{erlang,ciw,simpy}")

    erlang = sub.add_parser("erlang", help="pyworkforce Erlang C (and Erlang A) for one interval")
    erlang.add_argument("--calls", type=_positive_float, required=True,
                        help="calls offered in the interval")
    erlang.add_argument("--interval-min", type=_positive_float, required=True,
                        help="interval length, minutes")
    erlang.add_argument("--aht-s", type=_positive_float, required=True,
                        help="average handling time, seconds")
    erlang.add_argument("--agents", type=_positive_int, required=True,
                        help="agents staffed")
    erlang.add_argument("--target-s", type=_positive_float, required=True,
                        help="service-level target answer time, seconds")
    erlang.add_argument("--patience-s", type=_positive_float, default=None,
                        help="mean caller patience, seconds (Erlang A)")
    erlang.add_argument("--sl-goal", type=_fraction, default=0.8,
                        help="service-level goal for required_agents (default 0.8)")
    erlang.set_defaults(func=cmd_erlang)

    for name, func, text in (
        ("ciw", cmd_ciw, "simulate M/M/N(+M) with Ciw"),
        ("simpy", cmd_simpy, "simulate M/M/N(+M) with SimPy"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--rate-per-min", type=_positive_float, required=True,
                       help="Poisson arrival rate, calls per minute")
        p.add_argument("--aht-s", type=_positive_float, required=True,
                       help="mean (exponential) handling time, seconds")
        p.add_argument("--agents", type=_positive_int, required=True, help="agents (servers)")
        p.add_argument("--patience-s", type=_positive_float, default=None,
                       help="mean exponential patience, seconds (omit: nobody abandons)")
        p.add_argument("--hours", type=_positive_float, default=200.0,
                       help="simulated hours (default 200)")
        p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        p.add_argument("--target-s", type=_positive_float, default=20.0,
                       help="service-level target answer time, seconds (default 20)")
        p.add_argument("--max-calls", type=_positive_int, default=DEFAULT_MAX_CALLS,
                       help="refuse runs expecting more arrivals than this "
                       f"(default {DEFAULT_MAX_CALLS:,})")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("ciw", "simpy"):
        _check_size(args, parser)
    args.func(args)


if __name__ == "__main__":
    main()
