"""The built-in awaitables compute what they promise: count_primes against a Python sieve,
sha256_file against hashlib, sleep and spin last at least their time, live_tasks counts."""
import asyncio
import hashlib
import os
import pathlib
import time

import pytest

import uvtask

from conftest import reference_primes_up_to, until


def test_count_primes_matches_a_python_sieve_including_every_window_boundary(run):
    reference = reference_primes_up_to(300_000)
    limits = list(range(0, 200)) + [65535, 65536, 65537, 131071, 131072, 131073, 196607, 299_999]

    async def main():
        return await asyncio.gather(*(uvtask.count_primes(n) for n in limits))

    assert run(main()) == [reference[n] for n in limits]


def test_count_primes_knows_the_classic_values(run):
    async def main():
        return [await uvtask.count_primes(10**k) for k in range(1, 8)]

    assert run(main()) == [4, 25, 168, 1229, 9592, 78498, 664579]


@pytest.mark.parametrize("size", [0, 1, 55, 56, 63, 64, 65, 1000, 16384, 16385,
                                  256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 1024 * 1024 + 3])
def test_sha256_file_equals_hashlib(run, tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert run(uvtask.sha256_file(str(path))) == hashlib.sha256(data).hexdigest()


def test_sha256_file_takes_str_bytes_and_path_like(run, tmp_path):
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    digest = hashlib.sha256(b"hello\n").hexdigest()

    async def main():
        return [await uvtask.sha256_file(p) for p in (str(path), os.fsencode(path), path)]

    assert run(main()) == [digest] * 3


def test_a_cancelled_sha256_file_stops_between_blocks_and_closes_the_file(run, tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(256 * 1024 * 1024)  # 256 MiB (sparse): seconds of hashing
    fds_before = len(os.listdir("/proc/self/fd"))

    async def main():
        job = asyncio.create_task(uvtask.sha256_file(big))
        await until(lambda: uvtask.live_tasks() == 1)
        await asyncio.sleep(0.01)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    run(main())
    # the File's destructor hands its descriptor to a background close: give it its turn
    deadline = time.monotonic() + 10
    while len(os.listdir("/proc/self/fd")) > fds_before and time.monotonic() < deadline:
        time.sleep(0.001)
    assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_sleep_and_spin_last_at_least_their_time(run):
    async def main():
        start = time.monotonic()
        await uvtask.sleep(0.02)
        slept = time.monotonic() - start
        start = time.monotonic()
        assert await uvtask.spin(0.01) is None
        spun = time.monotonic() - start
        return slept, spun

    slept, spun = run(main())
    assert slept >= 0.02 and spun >= 0.01


def test_live_tasks_counts_the_native_tasks_that_have_not_ended(run):
    async def main():
        assert uvtask.live_tasks() == 0
        jobs = [asyncio.create_task(uvtask.spin(30.0)) for _ in range(3)]
        await until(lambda: uvtask.live_tasks() == 3)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        assert uvtask.live_tasks() == 0

    run(main())


def test_the_package_is_typed_and_documented():
    package = pathlib.Path(uvtask.__file__).parent
    assert (package / "py.typed").exists()
    stub = (package / "_uvtask.pyi").read_text()
    for name in uvtask.__all__:
        assert getattr(uvtask, name).__doc__, name
        if name != "share_runtime":
            assert f"def {name}(" in stub, name
