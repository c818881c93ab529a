"""S9 (bench/PROTOCOL.md): asyncio's task.cancel() of a CPU-bound job -> CancelledError in the
awaiter, and how much work the job gets through per second while the asyncio loop stays
responsive; plus the round trip of awaiting a trivial coroutine. One harness for both sides:

- side "uvtask": the job is native (uvtask.spin / uvtask.count_primes on uvtask's loop thread,
  checkpointed); the trivial coroutine is uvtask._noop();
- side "asyncio": the job is pure asyncio, a CPU loop that yields with `await asyncio.sleep(0)`
  every ~10 us of work (the seed articles' advice); the trivial coroutine is `async def`.

In every measurement a ticker task runs on the asyncio loop (`await asyncio.sleep(0.001)` in a
loop) and records how late each tick is: the loop's responsiveness meanwhile.
"""
import asyncio
import math

from benchcommon import latency, log, now, per_op, spin_until


class S9Params:
    def __init__(self, quick):
        self.warmup, self.reps = (3, 30) if quick else (10, 200)
        self.delay_s = 0.010 if quick else 0.050
        self.spin_ns = 10_000
        self.work_limit = 2_000_000 if quick else 20_000_000
        self.work_runs = 3
        self.rt_calls, self.rt_runs = (2_000, 3) if quick else (20_000, 5)


class Ticker:
    def __init__(self):
        self.late = []
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self):
        while True:
            t = now()
            await asyncio.sleep(0.001)
            self.late.append(max(0, now() - t - 1_000_000))

    def stop(self):
        self.task.cancel()


# ---- the pure-asyncio jobs

async def asyncio_spin(rec, spin_ns):
    try:
        while True:
            spin_until(now() + spin_ns)
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        rec[0] = now()
        raise


async def asyncio_count_primes(limit, spin_ns=10_000):
    """The native count_primes' algorithm in Python (odd-only segmented sieve, 64 Ki numbers per
    window), yielding with sleep(0) whenever ~10 us of work have passed."""
    if limit < 2:
        return 0
    root = math.isqrt(limit)
    base = [p for p in range(3, root + 1, 2) if all(p % q for q in range(3, math.isqrt(p) + 1, 2))]
    total, window, low = 1, 32768, 3
    last_yield = now()
    while low <= limit:
        count = min(window, (limit - low) // 2 + 1)
        flags = bytearray(count)
        high = low + 2 * (count - 1)
        for p in base:
            square = p * p
            if square > high:
                break
            first = square if square >= low else -(-low // p) * p
            if first % 2 == 0:
                first += p
            start = (first - low) // 2
            flags[start::p] = b"\x01" * len(range(start, count, p))
            if now() - last_yield >= spin_ns:
                await asyncio.sleep(0)
                last_yield = now()
        total += count - sum(flags)
        low += 2 * window
    return total


async def trivial():
    return None


# ---- the harness

async def s9(p, metrics, side):
    import_uvtask = side == "uvtask"
    if import_uvtask:
        import uvtask
        import uvtask._uvtask
    loop = asyncio.get_running_loop()
    ticker = Ticker()

    # Latency: cancel -> CancelledError in the awaiter of the CPU-bound job.
    samples = []
    for i in range(p.warmup + p.reps):
        rec = [0]
        if import_uvtask:
            async def job():
                try:
                    await uvtask.spin(3600.0)
                except asyncio.CancelledError:
                    rec[0] = now()
                    raise
            task = loop.create_task(job())
        else:
            task = loop.create_task(asyncio_spin(rec, p.spin_ns))
        await asyncio.sleep(p.delay_s)
        t0 = now()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if i >= p.warmup:
            samples.append(rec[0] - t0)
    metrics["S9"] = latency(samples)
    if import_uvtask:
        assert uvtask.live_tasks() == 0

    # Work per second: the prime sieve up to work_limit, the ticker ticking meanwhile.
    rates, expected = [], None
    for _ in range(p.work_runs):
        t0 = now()
        if import_uvtask:
            n = await uvtask.count_primes(p.work_limit)
        else:
            n = await asyncio_count_primes(p.work_limit, p.spin_ns)
        elapsed = now() - t0
        assert expected in (None, n), (expected, n)
        expected = n
        rates.append(p.work_limit / (elapsed / 1e9))
    rates.sort()
    metrics["S9_work"] = {"unit": "numbers/s", "value": rates[len(rates) // 2], "runs": rates,
                          "primes": expected, "limit": p.work_limit}
    ticker.stop()
    metrics["S9_tick"] = latency(ticker.late)

    # Round trip of awaiting a trivial coroutine (no ticker).
    runs = []
    for _ in range(p.rt_runs):
        t0 = now()
        if import_uvtask:
            for _ in range(p.rt_calls):
                await uvtask._uvtask._noop()
        else:
            for _ in range(p.rt_calls):
                await trivial()
        runs.append((now() - t0) / p.rt_calls)
    metrics["S9_rt"] = per_op(runs)
    log(f"S9 {side}: p50 {metrics['S9']['p50'] / 1e3:.1f} us, work "
        f"{metrics['S9_work']['value'] / 1e6:.1f} M numbers/s, round trip "
        f"{metrics['S9_rt']['value']:.0f} ns")
