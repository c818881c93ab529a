"""Shared fixtures of the Python suite (run by tests/run through meson: PYTHONPATH points at
<builddir>/bindings/python and its examples/).

`run(coro)` runs a coroutine on a fresh asyncio loop — the default loop, then uvloop: every test
that takes `run` runs on both. After every test no native task may be left (`live_tasks() == 0`).
"""
import asyncio
import os

import pytest

import uvtask

try:
    import uvloop
except ImportError:  # pragma: no cover - tests/run installs python3-uvloop
    uvloop = None

LOOPS = ["asyncio", "uvloop"]


@pytest.fixture(params=LOOPS)
def loop_kind(request):
    if request.param == "uvloop" and uvloop is None:
        pytest.skip("python3-uvloop is not installed")
    return request.param


@pytest.fixture
def run(loop_kind):
    factory = uvloop.new_event_loop if loop_kind == "uvloop" else asyncio.new_event_loop

    def runner(coro):
        with asyncio.Runner(loop_factory=factory) as r:
            return r.run(coro)

    return runner


@pytest.fixture(autouse=True)
def no_native_task_left():
    yield
    assert uvtask.live_tasks() == 0, "a test left native tasks running"


async def until(predicate, step=0.001):
    """Yields to the loop until `predicate()` is true (a handshake, not a timed wait)."""
    while not predicate():
        await asyncio.sleep(step)


def python_env():
    """The environment for a child /usr/bin/python3 that imports uvtask like this one (the
    PYTHONPATH meson set, and the sanitizer preload when there is one)."""
    return dict(os.environ)


def reference_primes_up_to(limit):
    """pi(n) for every n <= limit, by a plain Python sieve: the reference for count_primes."""
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\x00\x00"[: min(2, limit + 1)]
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    counts, running = [], 0
    for flag in sieve:
        running += flag
        counts.append(running)
    return counts
