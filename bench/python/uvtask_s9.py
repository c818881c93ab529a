#!/usr/bin/python3
"""uvtask's S9 (bench/PROTOCOL.md): asyncio task.cancel() of a native CPU-bound job, native
work per second, the round trip of a trivial native await; and the comparison of the two ways a
native completion can reach asyncio (the eventfd the bindings use, call_soon_threadsafe).

    PYTHONPATH=<builddir>/bindings/python /usr/bin/python3 bench/python/uvtask_s9.py [--quick]

Prints one JSON object (runtime "uvtask", S9 metrics only) on stdout; bench/report.py merges it
with bench/out/uvtask.json.
"""
import asyncio
import os
import platform
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "peers"))
sys.path.insert(0, HERE)
from benchcommon import emit, latency, log, now, parse_args, per_op  # noqa: E402
from s9 import S9Params, s9  # noqa: E402

import uvtask  # noqa: E402
import uvtask._bridge  # noqa: E402
import uvtask._uvtask  # noqa: E402


def completion_modes(p, metrics):
    """eventfd against call_soon_threadsafe: the trivial round trip alone, then while another
    Python thread keeps the GIL busy (pure-Python loop) — how long the native thread waits for
    the GIL, and how long a native job takes while completions flow."""
    calls = p.rt_calls // 4
    limit = p.work_limit
    for mode in ("eventfd", "call_soon_threadsafe"):
        uvtask._bridge.completion_mode = mode  # read when a loop's port is made: a new loop each

        async def round_trip():
            runs = []
            for _ in range(p.rt_runs):
                t0 = now()
                for _ in range(calls):
                    await uvtask._uvtask._noop()
                runs.append((now() - t0) / calls)
            return per_op(runs)

        async def under_gil_pressure():
            stop = threading.Event()

            def hog():
                x = 0
                while not stop.is_set():
                    x += 1

            thread = threading.Thread(target=hog)
            thread.start()
            try:
                waited0 = uvtask._uvtask._gil_wait_ns()
                t0 = now()
                job = asyncio.create_task(uvtask.count_primes(limit))
                trips = []
                while not job.done():
                    t = now()
                    await uvtask._uvtask._noop()
                    trips.append(now() - t)
                await job
                return (now() - t0, uvtask._uvtask._gil_wait_ns() - waited0, len(trips), latency(trips))
            finally:
                stop.set()
                thread.join()

        with asyncio.Runner() as runner:
            metrics[f"S9_rt_{mode}"] = runner.run(round_trip())
        with asyncio.Runner() as runner:
            elapsed, gil_wait, trips, trip_latency = runner.run(under_gil_pressure())
        metrics[f"S9_gil_{mode}"] = {
            "unit": "ns", "job_elapsed": elapsed, "native_thread_gil_wait": gil_wait,
            "completions": trips, "round_trip": {k: v for k, v in trip_latency.items() if k != "samples"}}
        log(f"S9 {mode}: round trip {metrics[f'S9_rt_{mode}']['value']:.0f} ns; with a GIL hog: "
            f"count_primes({limit}) {elapsed / 1e6:.0f} ms, native thread waited {gil_wait / 1e6:.0f} ms "
            f"for the GIL over {trips} completions")
    uvtask._bridge.completion_mode = "eventfd"


def main():
    args = parse_args()
    metrics = {}
    if "S9" in args.scenarios:
        p = S9Params(args.quick)

        async def run():
            await s9(p, metrics, "uvtask")

        asyncio.run(run())
        completion_modes(p, metrics)
    version = f"uvtask {uvtask.__version__} (CPython {platform.python_version()}, eventfd bridge)"
    emit("uvtask", version, metrics)


if __name__ == "__main__":
    main()
