#!/usr/bin/python3
"""asyncio / uvloop peer for bench/PROTOCOL.md (scenarios S1..S7, S9).

    /usr/bin/python3 bench/peers/asyncio_uvloop.py --loop asyncio|uvloop [--quick] [--only S1,S2]

Prints one JSON object on stdout (runtime "asyncio" or "uvloop"); diagnostics go to stderr.
Idioms: asyncio.create_task / Task.cancel / await task; yield = `await asyncio.sleep(0)`;
the handler is `except asyncio.CancelledError` in the task body; S5 cancels with
`loop.call_soon_threadsafe(task.cancel)` from a second OS thread. S6 reads with
`StreamReader.read(4096)` (asyncio.start_server / asyncio.open_connection). S7 runs the job with
`loop.run_in_executor(None, ...)` (default ThreadPoolExecutor) awaited through `asyncio.shield`;
the handler sets the job's threading.Event, then awaits the job before returning. S9 is the
pure-asyncio side of bench/python/s9.py (a CPU loop yielding with sleep(0) every ~10 us).
S8 has only the post metrics (one loop, one thread: no cross-loop cancel): foreign
threading.Threads call `loop.call_soon_threadsafe(f)`; the round trip's thread blocks on a
threading.Lock (a futex) that f releases.
"""
import asyncio
import gc
import os
import platform
import queue
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchcommon import (Params, ScenarioFailed, emit, latency, log, now, parse_args, per_op,  # noqa: E402
                         rss_bytes, spin_job, spin_until)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from s9 import S9Params, s9 as s9_harness  # noqa: E402


async def sleeper_worker(started, rec, sleep_s):
    """The seed article's worker: sleeps, catches the cancellation, returns a value."""
    started[0] = True
    try:
        await asyncio.sleep(sleep_s)
    except asyncio.CancelledError:
        rec[0] = now()
        return "Canceled"
    return "Finished"


async def s1(p, metrics):
    loop = asyncio.get_running_loop()
    a, b = [], []
    for i in range(p.s1_warmup + p.s1_reps):
        started, rec = [False], [0]
        task = loop.create_task(sleeper_worker(started, rec, p.sleep_s))
        while not started[0]:
            await asyncio.sleep(0)
        t0 = now()
        task.cancel()
        r = await task
        t_join = now()
        assert r == "Canceled", r
        if i >= p.s1_warmup:
            a.append(rec[0] - t0)
            b.append(t_join - t0)
    metrics["S1a"] = latency(a)
    metrics["S1b"] = latency(b)


async def s2(p, metrics):
    runs = []
    n = p.s2_yields
    for _ in range(p.s2_runs):
        t0 = now()
        for _ in range(n):
            await asyncio.sleep(0)
        runs.append((now() - t0) / n)
    metrics["S2_yield"] = per_op(runs)
    # asyncio has no cheap cancellation check distinct from a yield: S2_checkpoint absent.


async def cpu_worker(rec, spin_ns):
    try:
        while True:
            spin_until(now() + spin_ns)
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        rec[0] = now()
        return "Canceled"


async def s3(p, metrics):
    loop = asyncio.get_running_loop()
    samples = []
    for i in range(p.s3_warmup + p.s3_reps):
        rec = [0]
        task = loop.create_task(cpu_worker(rec, p.s3_spin_ns))
        await asyncio.sleep(p.s3_delay_s)
        t0 = now()
        task.cancel()
        r = await task
        assert r == "Canceled", r
        if i >= p.s3_warmup:
            samples.append(rec[0] - t0)
    metrics["S3"] = latency(samples)


async def s4(p, metrics):
    loop = asyncio.get_running_loop()
    for label, n in p.s4_sizes:
        count = 0

        async def sleeper():
            nonlocal count
            count += 1
            try:
                await asyncio.sleep(p.s4_sleep_s)
            except asyncio.CancelledError:
                return

        gc.collect()
        rss0 = rss_bytes()
        t0 = now()
        tasks = [loop.create_task(sleeper()) for _ in range(n)]
        while count < n:
            await asyncio.sleep(0)
        t1 = now()
        rss1 = rss_bytes()
        t2 = now()
        for t in tasks:
            t.cancel()
        for t in tasks:
            await t
        t3 = now()
        metrics[f"S4_{label}_spawn"] = {"unit": "ns/task", "value": (t1 - t0) / n}
        metrics[f"S4_{label}_bytes"] = {"unit": "bytes/task", "value": (rss1 - rss0) / n}
        metrics[f"S4_{label}_cancel_join"] = {"unit": "ns", "value": t3 - t2}
        metrics[f"S4_{label}_cancels_per_s"] = {"unit": "1/s", "value": n / ((t3 - t2) / 1e9)}
        log(f"S4 {label}: spawn {(t1 - t0) / n:.0f} ns/task, {(rss1 - rss0) / n:.0f} B/task, "
            f"cancel+join {(t3 - t2) / 1e6:.1f} ms")
        del tasks
        gc.collect()


def canceller_thread(q, loop):
    while True:
        item = q.get()
        if item is None:
            return
        task, box = item
        box[0] = now()
        loop.call_soon_threadsafe(task.cancel)


async def s5(p, metrics):
    loop = asyncio.get_running_loop()
    q = queue.SimpleQueue()
    th = threading.Thread(target=canceller_thread, args=(q, loop), daemon=True)
    th.start()
    samples = []
    try:
        for i in range(p.s5_warmup + p.s5_reps):
            started, rec, box = [False], [0], [0]
            task = loop.create_task(sleeper_worker(started, rec, p.sleep_s))
            while not started[0]:
                await asyncio.sleep(0)
            q.put((task, box))  # tell the thread to go (not measured)
            r = await task
            assert r == "Canceled", r
            if i >= p.s5_warmup:
                samples.append(rec[0] - box[0])
    finally:
        q.put(None)
        th.join()
    metrics["S5"] = latency(samples)


async def blocked_reader(started, rec, reader):
    started[0] = True
    try:
        data = await reader.read(4096)
    except asyncio.CancelledError:
        rec[0] = now()
        return "Canceled"
    return "Data" if data else "EOF"


async def s6(p, metrics):
    loop = asyncio.get_running_loop()
    accepted = loop.create_future()
    server = await asyncio.start_server(lambda r, w: accepted.set_result((r, w)), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    c_reader, c_writer = await asyncio.open_connection("127.0.0.1", port)
    s_reader, s_writer = await accepted
    samples = []
    try:
        for i in range(p.s6_warmup + p.s6_reps):
            started, rec = [False], [0]
            task = loop.create_task(blocked_reader(started, rec, s_reader))
            while not started[0]:
                await asyncio.sleep(0)
            await asyncio.sleep(0)  # the read is pending
            t0 = now()
            task.cancel()
            r = await task
            if r != "Canceled":
                raise ScenarioFailed(f"S6: unexpected result {r!r}")
            if i >= p.s6_warmup:
                samples.append(rec[0] - t0)
        # The socket is still usable after every cancelled read: one byte written arrives.
        c_writer.write(b"x")
        await c_writer.drain()
        try:
            last = await asyncio.wait_for(s_reader.read(4096), 5)
        except asyncio.TimeoutError:
            last = None
        if last != b"x":
            raise ScenarioFailed(f"S6: the socket lost data after the cancelled reads "
                                 f"(last read: {last!r}, expected b'x')")
    finally:
        c_writer.close()
        s_writer.close()
        server.close()
        await server.wait_closed()
    metrics["S6"] = latency(samples)


class PoolRec:
    __slots__ = ("started", "t_seen", "t_handler")

    def __init__(self):
        self.started = False
        self.t_seen = 0
        self.t_handler = 0


async def pool_waiter(rec):
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    fut = loop.run_in_executor(None, spin_job, rec, stop)
    try:
        # A plain `await fut` would, on cancel, cancel the future and abandon the running thread.
        await asyncio.shield(fut)
        return "Done"
    except asyncio.CancelledError:
        stop.set()  # the job's stop request
        await fut  # no orphan thread: wait until the job has returned
        rec.t_handler = now()
        return "Canceled"


async def s7(p, metrics):
    loop = asyncio.get_running_loop()
    seen, handler = [], []
    for i in range(p.s7_warmup + p.s7_reps):
        rec = PoolRec()
        task = loop.create_task(pool_waiter(rec))
        while not rec.started:
            await asyncio.sleep(0)
        t0 = now()
        task.cancel()
        r = await task
        if r != "Canceled":
            raise ScenarioFailed(f"S7: unexpected result {r!r}")
        if i >= p.s7_warmup:
            seen.append(rec.t_seen - t0)
            handler.append(rec.t_handler - t0)
    metrics["S7a"] = latency(seen)
    metrics["S7b"] = latency(handler)


def post_rtt_thread(loop, p, done):
    """S8_post_rtt's foreign thread: post a call that releases `lock`, block until it has."""
    try:
        lock = threading.Lock()
        lock.acquire()
        samples = []
        for i in range(p.s1_warmup + p.s1_reps):
            t0 = now()
            loop.call_soon_threadsafe(lock.release)
            lock.acquire()
            t1 = now()
            if i >= p.s1_warmup:
                samples.append(t1 - t0)
        loop.call_soon_threadsafe(done.set_result, samples)
    except BaseException as e:  # noqa: B902 - handed to the loop, re-raised there
        loop.call_soon_threadsafe(done.set_exception, e)


async def post_throughput(loop, threads, per_thread):
    """Posts delivered per second while `threads` foreign threads post `per_thread` calls each."""
    total = threads * per_thread
    state = {"n": 0, "t_end": 0}
    finished = loop.create_future()

    def delivered():
        state["n"] += 1
        if state["n"] == total:
            state["t_end"] = now()
            finished.set_result(None)

    go = threading.Event()

    def poster():
        go.wait()
        post = loop.call_soon_threadsafe
        for _ in range(per_thread):
            post(delivered)

    posters = [threading.Thread(target=poster) for _ in range(threads)]
    for t in posters:
        t.start()
    await asyncio.sleep(0.01)  # the posters are waiting for `go`
    t0 = now()
    go.set()
    await finished
    for t in posters:
        t.join()
    return total / ((state["t_end"] - t0) / 1e9)


async def s8(p, metrics):
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    threading.Thread(target=post_rtt_thread, args=(loop, p, done)).start()
    metrics["S8_post_rtt"] = latency(await done)
    for threads, name in ((1, "S8_post_1thread"), (2, "S8_post_2threads")):
        rate = await post_throughput(loop, threads, p.post_count)
        metrics[name] = {"unit": "posts/s", "value": rate}


async def s9(p, metrics):
    await s9_harness(S9Params(p.quick), metrics, "asyncio")


async def main(p, scenarios):
    metrics = {}
    for name, fn in (("S1", s1), ("S2", s2), ("S3", s3), ("S4", s4), ("S5", s5), ("S6", s6),
                     ("S7", s7), ("S8", s8), ("S9", s9)):
        if name in scenarios:
            t = now()
            await fn(p, metrics)
            log(f"{name} done in {(now() - t) / 1e9:.1f} s")
    return metrics


def run():
    args = parse_args(lambda ap: ap.add_argument("--loop", choices=("asyncio", "uvloop"),
                                                 default="asyncio"))
    p = Params(args.quick)
    py = f"{platform.python_implementation()} {platform.python_version()}"
    try:
        if args.loop == "uvloop":
            try:
                import uvloop
            except ImportError as e:
                emit("uvloop", None, {}, skipped=f"uvloop not importable: {e}")
                return
            version = f"uvloop {uvloop.__version__} ({py})"
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                metrics = runner.run(main(p, args.scenarios))
        else:
            version = py
            metrics = asyncio.run(main(p, args.scenarios))
    except ScenarioFailed as e:
        log(f"FAILED: {e}")
        sys.exit(1)
    emit(args.loop, version, metrics)


if __name__ == "__main__":
    run()
