"""Helpers shared by the Python peers (asyncio/uvloop and Trio): parameters, statistics, output.

Everything here follows bench/PROTOCOL.md: parameters (full / --quick), nearest-rank
percentiles, RSS from /proc/self/statm, one JSON object on stdout.
"""
import argparse
import json
import math
import os
import sys
import time

now = time.perf_counter_ns  # CLOCK_MONOTONIC on Linux, in ns

ALL = ("S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "ECHO")  # a peer runs those it has


class Params:
    def __init__(self, quick):
        self.quick = quick
        self.s1_warmup, self.s1_reps = (100, 1000) if quick else (500, 10000)
        self.s2_yields, self.s2_runs = (100_000, 3) if quick else (1_000_000, 5)
        self.s3_warmup, self.s3_reps = (3, 30) if quick else (10, 200)
        self.s3_delay_s = 0.010 if quick else 0.050
        self.s3_spin_ns = 10_000
        self.s4_sizes = [("100k", 100_000)] if quick else [("100k", 100_000), ("1m", 1_000_000)]
        self.s4_sleep_s = 60
        self.s5_warmup, self.s5_reps = (20, 200) if quick else (100, 2000)
        self.s6_warmup, self.s6_reps = (100, 1000) if quick else (500, 10000)
        self.s7_warmup, self.s7_reps = (20, 200) if quick else (100, 2000)
        self.post_count = 100_000 if quick else 1_000_000  # S8: posts per foreign thread
        self.sleep_s = 10


def parse_args(extra=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--only", default="", help="comma-separated subset, e.g. S1,S3")
    if extra:
        extra(ap)
    args = ap.parse_args()
    only = [s.strip().upper() for s in args.only.split(",") if s.strip()]
    for s in only:
        if s not in ALL:
            ap.error(f"unknown scenario {s!r} (expected one of {','.join(ALL)})")
    args.scenarios = set(only or ALL)
    return args


def latency(samples):
    s = sorted(samples)
    n = len(s)

    def q(p):
        return s[min(n - 1, max(0, math.ceil(p * n) - 1))]

    return {"unit": "ns", "n": n, "p50": q(0.50), "p90": q(0.90), "p99": q(0.99),
            "p999": q(0.999), "max": s[-1], "samples": list(samples)}


def per_op(runs):
    r = sorted(runs)
    return {"unit": "ns/op", "value": r[(len(r) - 1) // 2], "runs": list(runs)}


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class ScenarioFailed(Exception):
    """A scenario's own check failed (e.g. S6's socket lost data): the program exits non-zero."""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def emit(runtime, version, metrics, skipped=None):
    json.dump({"runtime": runtime, "version": version, "skipped": skipped, "metrics": metrics},
              sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    sys.stdout.flush()


def spin_until(deadline_ns):
    while now() < deadline_ns:
        pass


def spin_job(rec, stop):
    """S7's blocking job, run on the runtime's thread pool: sets `started`, spins until the
    threading.Event `stop` is set (the shared flag the task's cancellation handling sets),
    records t_seen and returns."""
    rec.started = True
    while not stop.is_set():
        pass
    rec.t_seen = now()
    return "Stopped"
