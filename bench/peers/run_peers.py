#!/usr/bin/python3
"""Runs every peer benchmark with the same flags and writes bench/out/peer-<runtime>.json.

    /usr/bin/python3 bench/peers/run_peers.py [--quick] [--only S1,S3] [--peers asyncio,tokio]
                                              [--timeout SECONDS]

Run bench/install-peers.sh first (it builds the compiled peers into bench/out/ and records in
bench/out/skip-<runtime>.txt why a peer could not be installed or built). Each peer runs once,
sequentially, under a timeout (default 900 s full, 180 s --quick). A peer that is skipped, fails,
times out or prints no valid JSON still gets its file, with "skipped" set to the reason, so
bench/report.py can show it. Each peer's stderr goes to bench/out/peer-<runtime>.log. The wall
time of each run is printed and stored as "wall_s" in its JSON.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
OUT = os.path.join(BENCH, "out")
PY = "/usr/bin/python3"

# runtime -> command (flags are appended)
PEERS = [
    ("asyncio", [PY, os.path.join(HERE, "asyncio_uvloop.py"), "--loop", "asyncio"]),
    ("uvloop", [PY, os.path.join(HERE, "asyncio_uvloop.py"), "--loop", "uvloop"]),
    ("trio", [PY, os.path.join(HERE, "trio_bench.py")]),
    ("node", ["node", os.path.join(HERE, "node_bench.mjs")]),
    ("asio-exc", [os.path.join(OUT, "asio_bench"), "--variant", "exc"]),
    ("asio-ec", [os.path.join(OUT, "asio_bench"), "--variant", "ec"]),
    ("tokio", [os.path.join(OUT, "tokio_bench")]),
]
TOKIO_UNSTABLE = os.path.join(OUT, "tokio_bench_unstable")


def skipped(runtime, reason, version=None):
    return {"runtime": runtime, "version": version, "skipped": reason, "metrics": {}}


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON object on stdout")


def run_one(cmd, flags, timeout, log_path):
    """-> (json object or None, reason or None, wall seconds)"""
    t0 = time.monotonic()
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(cmd + flags)}\n".encode())
        log.flush()
        try:
            proc = subprocess.run(cmd + flags, stdout=subprocess.PIPE, stderr=log, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"timed out after {timeout} s", time.monotonic() - t0
        except OSError as e:
            return None, f"could not start {cmd[0]}: {e}", time.monotonic() - t0
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        tail = ""
        try:
            with open(log_path, errors="replace") as f:
                tail = " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            pass
        return None, f"exit status {proc.returncode}: {tail}"[:500], wall
    try:
        return last_json_line(proc.stdout.decode(errors="replace")), None, wall
    except ValueError as e:
        return None, f"bad output: {e}", wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="scenarios, e.g. S1,S3 (passed to every peer)")
    ap.add_argument("--peers", default="", help="runtimes to run (default: all)")
    ap.add_argument("--timeout", type=float, default=None, help="per-peer timeout in seconds")
    args = ap.parse_args()
    timeout = args.timeout or (180 if args.quick else 900)
    flags = (["--quick"] if args.quick else []) + (["--only", args.only] if args.only else [])
    wanted = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(wanted) - {rt for rt, _ in PEERS}
    if unknown:
        ap.error(f"unknown peers: {', '.join(sorted(unknown))}")
    scenarios = {s.strip().upper() for s in args.only.split(",") if s.strip()} or {"S1", "S2", "S3", "S4", "S5"}
    os.makedirs(OUT, exist_ok=True)

    total0 = time.monotonic()
    summary = []
    for runtime, cmd in PEERS:
        if wanted and runtime not in wanted:
            continue
        out_path = os.path.join(OUT, f"peer-{runtime}.json")
        log_path = os.path.join(OUT, f"peer-{runtime}.log")
        open(log_path, "w").close()
        skip_file = os.path.join(OUT, f"skip-{runtime}.txt")
        result, reason, wall = None, None, 0.0
        if os.path.exists(skip_file):
            with open(skip_file) as f:
                reason = f.read().strip() or "skipped by install-peers.sh"
        elif not (os.path.isabs(cmd[0]) and os.access(cmd[0], os.X_OK)) and not shutil.which(cmd[0]):
            reason = f"{cmd[0]} not found (run bench/install-peers.sh)"
        else:
            print(f"run_peers: {runtime} ...", file=sys.stderr, flush=True)
            result, reason, wall = run_one(cmd, flags, timeout, log_path)
            if result is not None and runtime == "tokio" and "S2" in scenarios and not result.get("skipped"):
                # S2_checkpoint comes from the --cfg tokio_unstable build (see tokio/src/main.rs).
                if os.access(TOKIO_UNSTABLE, os.X_OK):
                    extra, why, w2 = run_one([TOKIO_UNSTABLE], flags[:1] + ["--only", "S2"], timeout, log_path)
                    wall += w2
                    if extra is not None and "S2_checkpoint" in extra.get("metrics", {}):
                        ck = extra["metrics"]["S2_checkpoint"]
                        ck["note"] = "measured by a separate --cfg tokio_unstable build"
                        result["metrics"]["S2_checkpoint"] = ck
                    else:
                        print(f"run_peers: tokio S2_checkpoint failed: {why}", file=sys.stderr)
        if result is None:
            result = skipped(runtime, reason)
        result["wall_s"] = round(wall, 2)
        with open(out_path, "w") as f:
            json.dump(result, f, separators=(",", ":"))
            f.write("\n")
        status = f"SKIPPED ({result['skipped']})" if result.get("skipped") else "ok"
        print(f"run_peers: {runtime}: {status}, {wall:.1f} s -> {os.path.relpath(out_path)}",
              file=sys.stderr, flush=True)
        summary.append((runtime, status, wall))

    total = time.monotonic() - total0
    print(f"run_peers: all peers done in {total:.1f} s", file=sys.stderr)
    for runtime, status, wall in summary:
        print(f"  {runtime:<9} {wall:7.1f} s  {status}", file=sys.stderr)


if __name__ == "__main__":
    main()
