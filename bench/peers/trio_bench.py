#!/usr/bin/python3
"""Trio peer for bench/PROTOCOL.md (scenarios S1..S7).

    /usr/bin/python3 bench/peers/trio_bench.py [--quick] [--only S1,S2]

Prints one JSON object on stdout (runtime "trio"); diagnostics go to stderr.
Idioms: tasks are started in a nursery (`nursery.start_soon`); each cancellable task body runs
inside its own `trio.CancelScope`, and "cancel the task" is `scope.cancel()`; "join" is leaving
the nursery block. The handler catches `trio.Cancelled`, records the time and re-raises (Trio
requires it; the scope absorbs the Cancelled). yield = `trio.lowlevel.checkpoint()`.
S5 cancels with `trio.from_thread.run_sync(scope.cancel, trio_token=token)` from a second OS
thread. S4 cancels all N tasks at once with `nursery.cancel_scope.cancel()`.
S6 reads with `SocketStream.receive_some(4096)` (trio.open_tcp_listeners / open_tcp_stream).
S7 runs the job with `trio.to_thread.run_sync` (cancellable=False, the default: Trio waits for
the thread) next to a sibling "relay" task that sets the job's threading.Event when the scope
is cancelled.
"""
import gc
import os
import platform
import queue
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchcommon import (Params, ScenarioFailed, emit, latency, log, now, parse_args, per_op,  # noqa: E402
                         rss_bytes, spin_job, spin_until)

import trio  # noqa: E402


class Rec:
    __slots__ = ("started", "scope", "t_handler", "t_seen", "result")

    def __init__(self):
        self.started = False
        self.scope = None
        self.t_handler = 0
        self.t_seen = 0
        self.result = None


async def sleeper_worker(rec, sleep_s):
    """The seed article's worker, Trio-style: the handler records the time and re-raises;
    the task's own CancelScope absorbs the Cancelled, then the task 'returns' its value."""
    with trio.CancelScope() as scope:
        rec.scope = scope
        rec.started = True
        try:
            await trio.sleep(sleep_s)
        except trio.Cancelled:
            rec.t_handler = now()
            raise
        rec.result = "Finished"
        return
    rec.result = "Canceled"


async def s1(p, metrics):
    a, b = [], []
    for i in range(p.s1_warmup + p.s1_reps):
        rec = Rec()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sleeper_worker, rec, p.sleep_s)
            while not rec.started:
                await trio.lowlevel.checkpoint()
            t0 = now()
            rec.scope.cancel()
        t_join = now()
        assert rec.result == "Canceled", rec.result
        if i >= p.s1_warmup:
            a.append(rec.t_handler - t0)
            b.append(t_join - t0)
    metrics["S1a"] = latency(a)
    metrics["S1b"] = latency(b)


async def s2(p, metrics):
    n = p.s2_yields
    for key, op in (("S2_yield", trio.lowlevel.checkpoint),
                    ("S2_checkpoint", trio.lowlevel.checkpoint_if_cancelled)):
        runs = []
        for _ in range(p.s2_runs):
            t0 = now()
            for _ in range(n):
                await op()
            runs.append((now() - t0) / n)
        metrics[key] = per_op(runs)


async def cpu_worker(rec, spin_ns):
    with trio.CancelScope() as scope:
        rec.scope = scope
        try:
            while True:
                spin_until(now() + spin_ns)
                await trio.lowlevel.checkpoint()
        except trio.Cancelled:
            rec.t_handler = now()
            raise
    rec.result = "Canceled"


async def s3(p, metrics):
    samples = []
    for i in range(p.s3_warmup + p.s3_reps):
        rec = Rec()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cpu_worker, rec, p.s3_spin_ns)
            await trio.sleep(p.s3_delay_s)
            t0 = now()
            rec.scope.cancel()
        assert rec.result == "Canceled", rec.result
        if i >= p.s3_warmup:
            samples.append(rec.t_handler - t0)
    metrics["S3"] = latency(samples)


async def s4(p, metrics):
    for label, n in p.s4_sizes:
        count = 0

        async def sleeper():
            nonlocal count
            count += 1
            try:
                await trio.sleep(p.s4_sleep_s)
            except trio.Cancelled:
                raise  # Trio requires re-raising; the nursery's scope absorbs it

        gc.collect()
        rss0 = rss_bytes()
        t0 = now()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(sleeper)
            while count < n:
                await trio.lowlevel.checkpoint()
            t1 = now()
            rss1 = rss_bytes()
            t2 = now()
            nursery.cancel_scope.cancel()
        t3 = now()
        metrics[f"S4_{label}_spawn"] = {"unit": "ns/task", "value": (t1 - t0) / n}
        metrics[f"S4_{label}_bytes"] = {"unit": "bytes/task", "value": (rss1 - rss0) / n}
        metrics[f"S4_{label}_cancel_join"] = {"unit": "ns", "value": t3 - t2}
        metrics[f"S4_{label}_cancels_per_s"] = {"unit": "1/s", "value": n / ((t3 - t2) / 1e9)}
        log(f"S4 {label}: spawn {(t1 - t0) / n:.0f} ns/task, {(rss1 - rss0) / n:.0f} B/task, "
            f"cancel+join {(t3 - t2) / 1e6:.1f} ms")
        del nursery
        gc.collect()


def canceller_thread(q, token):
    while True:
        item = q.get()
        if item is None:
            return
        rec, box = item
        box[0] = now()
        trio.from_thread.run_sync(rec.scope.cancel, trio_token=token)


async def s5(p, metrics):
    token = trio.lowlevel.current_trio_token()
    q = queue.SimpleQueue()
    th = threading.Thread(target=canceller_thread, args=(q, token), daemon=True)
    th.start()
    samples = []
    try:
        for i in range(p.s5_warmup + p.s5_reps):
            rec, box = Rec(), [0]
            async with trio.open_nursery() as nursery:
                nursery.start_soon(sleeper_worker, rec, p.sleep_s)
                while not rec.started:
                    await trio.lowlevel.checkpoint()
                q.put((rec, box))  # tell the thread to go (not measured)
            assert rec.result == "Canceled", rec.result
            if i >= p.s5_warmup:
                samples.append(rec.t_handler - box[0])
    finally:
        q.put(None)
        # from_thread.run_sync needs the loop running: join the thread without blocking it
        await trio.to_thread.run_sync(th.join)
    metrics["S5"] = latency(samples)


async def blocked_reader(rec, stream):
    with trio.CancelScope() as scope:
        rec.scope = scope
        rec.started = True
        try:
            data = await stream.receive_some(4096)
        except trio.Cancelled:
            rec.t_handler = now()
            raise
        rec.result = "Data" if data else "EOF"
        return
    rec.result = "Canceled"


async def s6(p, metrics):
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    client = await trio.open_tcp_stream("127.0.0.1", port)
    server = await listener.accept()
    samples = []
    try:
        for i in range(p.s6_warmup + p.s6_reps):
            rec = Rec()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(blocked_reader, rec, server)
                while not rec.started:
                    await trio.lowlevel.checkpoint()
                await trio.lowlevel.checkpoint()  # the read is pending
                t0 = now()
                rec.scope.cancel()
            if rec.result != "Canceled":
                raise ScenarioFailed(f"S6: unexpected result {rec.result!r}")
            if i >= p.s6_warmup:
                samples.append(rec.t_handler - t0)
        # The socket is still usable after every cancelled read: one byte written arrives.
        await client.send_all(b"x")
        last = None
        with trio.move_on_after(5):
            last = await server.receive_some(4096)
        if last != b"x":
            raise ScenarioFailed(f"S6: the socket lost data after the cancelled reads "
                                 f"(last read: {last!r}, expected b'x')")
    finally:
        await client.aclose()
        await server.aclose()
        await listener.aclose()
    metrics["S6"] = latency(samples)


async def relay_cancel(stop):
    """Sibling of the thread job: sleeps until the task's scope is cancelled, then sets the
    job's stop flag (cancellation cannot reach a thread run with cancellable=False)."""
    try:
        await trio.sleep_forever()
    except trio.Cancelled:
        stop.set()
        raise


async def pool_waiter(rec):
    stop = threading.Event()
    with trio.CancelScope() as scope:
        rec.scope = scope
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(relay_cancel, stop)
                # cancellable=False (the default): on cancel Trio keeps waiting for the thread,
                # so the Cancelled surfaces only after the job has returned (no orphan thread).
                await trio.to_thread.run_sync(spin_job, rec, stop)
                nursery.cancel_scope.cancel()  # the job ended on its own: stop the relay
        except* trio.Cancelled:
            # The nursery raises the relay's Cancelled together with its own exit checkpoint's
            # (a MultiError of two Cancelled in Trio 0.22), hence except*.
            rec.t_handler = now()
            raise
        rec.result = "Done"
        return
    rec.result = "Canceled"


async def s7(p, metrics):
    seen, handler = [], []
    for i in range(p.s7_warmup + p.s7_reps):
        rec = Rec()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pool_waiter, rec)
            while not rec.started:
                await trio.lowlevel.checkpoint()
            t0 = now()
            rec.scope.cancel()
        if rec.result != "Canceled":
            raise ScenarioFailed(f"S7: unexpected result {rec.result!r}")
        if i >= p.s7_warmup:
            seen.append(rec.t_seen - t0)
            handler.append(rec.t_handler - t0)
    metrics["S7a"] = latency(seen)
    metrics["S7b"] = latency(handler)


async def main(p, scenarios, out):
    for name, fn in (("S1", s1), ("S2", s2), ("S3", s3), ("S4", s4), ("S5", s5), ("S6", s6),
                     ("S7", s7)):
        if name in scenarios:
            t = now()
            await fn(p, out)
            log(f"{name} done in {(now() - t) / 1e9:.1f} s")


def run():
    args = parse_args()
    p = Params(args.quick)
    metrics = {}
    try:
        trio.run(main, p, args.scenarios, metrics)
    except ScenarioFailed as e:
        log(f"FAILED: {e}")
        sys.exit(1)
    version = f"trio {trio.__version__} ({platform.python_implementation()} {platform.python_version()})"
    emit("trio", version, metrics)


if __name__ == "__main__":
    run()
