#!/usr/bin/python3
"""The echo scenario of bench/PROTOCOL.md: an echo server's requests per second on 1 and on 2
loops (uvtask: LoopGroup(1) / LoopGroup(2), the example tests/examples/echo_server_group.cpp) or
worker threads (Tokio's multi-thread runtime, its echo example), each driven by the same load
client (bench/src/echo_load.cpp) on loopback, one after the other in this run.

    /usr/bin/python3 bench/echo_scaling.py [--builddir build-bench] [--quick] [--no-peers]

Writes bench/out/uvtask-echo.json and bench/out/peer-tokio-echo.json (metrics echo_1loop and
echo_2loops, unit req/s; for Tokio, 1 and 2 worker threads), which bench/report.py merges into
the uvtask and tokio rows. Each server is started on a free port of 127.0.0.1 (it prints it),
loaded, then stopped with SIGINT (killed if it has not ended 10 s later). Exit status 1 if a
uvtask server or the client failed.
"""
import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
CONNECTIONS = 64
SIZE = 64


def log(*a):
    print("echo_scaling:", *a, file=sys.stderr, flush=True)


def serve_and_load(server_cmd, client, quick):
    """-> (req/s or None, reason or None)"""
    server = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([server.stdout], [], [], 10)
        line = server.stdout.readline().decode(errors="replace") if ready else ""
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            return None, f"no port from the server (got {line.strip()!r})"
        warmup_ms, ms = (200, 1000) if quick else (500, 3000)
        load = subprocess.run([client, m.group(1), "--conns", str(CONNECTIONS), "--size", str(SIZE),
                               "--warmup-ms", str(warmup_ms), "--ms", str(ms)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if load.returncode != 0:
            return None, f"client failed: {load.stderr.decode(errors='replace').strip()}"
        return json.loads(load.stdout.decode())["req_per_s"], None
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builddir", default="build-bench")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args()
    bench_bin = os.path.join(args.builddir, "bench")
    client = os.path.join(bench_bin, "echo_load")
    tokio = os.path.join(OUT, "tokio_bench")
    runs = [("uvtask", 1, [os.path.join(bench_bin, "uvtask_echo_server"), "0", "1"])]
    with_tokio = not args.no_peers and os.access(tokio, os.X_OK) and not os.path.exists(
        os.path.join(OUT, "skip-tokio.txt"))
    if with_tokio:
        runs.append(("tokio", 1, [tokio, "--echo-server", "1"]))
    runs.append(("uvtask", 2, [os.path.join(bench_bin, "uvtask_echo_server"), "0", "2"]))
    if with_tokio:
        runs.append(("tokio", 2, [tokio, "--echo-server", "2"]))

    metrics = {"uvtask": {}, "tokio": {}}
    failed = False
    for runtime, n, cmd in runs:
        t = time.monotonic()
        rate, why = serve_and_load(cmd, client, args.quick)
        name = "echo_1loop" if n == 1 else "echo_2loops"
        if rate is None:
            log(f"{runtime} on {n}: FAILED: {why}")
            failed = failed or runtime == "uvtask"
            continue
        metrics[runtime][name] = {"unit": "req/s", "value": rate, "connections": CONNECTIONS,
                                  "message_bytes": SIZE}
        log(f"{runtime} on {n} {'loop(s)' if runtime == 'uvtask' else 'worker(s)'}: "
            f"{rate:.0f} req/s ({time.monotonic() - t:.1f} s)")

    os.makedirs(OUT, exist_ok=True)
    files = [("uvtask", os.path.join(OUT, "uvtask-echo.json"))]
    if with_tokio:
        files.append(("tokio", os.path.join(OUT, "peer-tokio-echo.json")))
    for runtime, path in files:
        with open(path, "w") as f:
            json.dump({"runtime": runtime, "version": None, "partial": True, "skipped": None,
                       "metrics": metrics[runtime]}, f)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
