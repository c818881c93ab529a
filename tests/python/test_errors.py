"""Each bad input, and each native error, gives its named Python exception."""
import asyncio
import errno
import math

import pytest

import uvtask
import uvtask_example as ex


@pytest.mark.parametrize("call", [
    lambda: uvtask.sleep("1"),
    lambda: uvtask.sleep(None),
    lambda: uvtask.spin([]),
    lambda: uvtask.count_primes(1.5),
    lambda: uvtask.count_primes("10"),
    lambda: uvtask.sha256_file(123),
    lambda: uvtask.sha256_file(None),
    lambda: ex.add("1", 2),
    lambda: ex.heavy_worker(1.0, 5),
], ids=["sleep-str", "sleep-none", "spin-list", "primes-float", "primes-str", "sha-int",
        "sha-none", "ext-str", "ext-int-path"])
def test_a_wrong_argument_type_raises_type_error_at_the_call(call):
    with pytest.raises(TypeError):
        call()


@pytest.mark.parametrize("call", [
    lambda: uvtask.sleep(-1),
    lambda: uvtask.sleep(-1e-9),
    lambda: uvtask.sleep(math.nan),
    lambda: uvtask.spin(-0.5),
    lambda: uvtask.spin(math.nan),
    lambda: uvtask.count_primes(-1),
    lambda: uvtask.count_primes(2**40 + 1),
    lambda: uvtask.count_primes(2**70),
    lambda: uvtask.count_primes(-2**70),
], ids=["sleep-neg", "sleep-tiny-neg", "sleep-nan", "spin-neg", "spin-nan", "primes-neg",
        "primes-big", "primes-huge", "primes-huge-neg"])
def test_a_bad_value_raises_value_error_at_the_call(call):
    with pytest.raises(ValueError):
        call()


def test_a_path_with_a_nul_byte_raises_value_error_at_the_call_instead_of_hashing_its_prefix(
        tmp_path):
    real = tmp_path / "data.bin"
    real.write_bytes(b"abc")  # what the OS would open if the path were cut at the NUL
    for path in (str(real) + "\0.txt", bytes(real) + b"\0.txt"):
        with pytest.raises(ValueError, match="null byte"):
            uvtask.sha256_file(path)


def test_awaiting_outside_a_running_asyncio_loop_raises_runtime_error_and_starts_nothing():
    coro = uvtask.spin(30.0)
    with pytest.raises(RuntimeError, match="no running event loop"):
        coro.send(None)
    assert uvtask.live_tasks() == 0


def test_awaiting_a_native_awaitable_twice_raises_runtime_error(run):
    async def main():
        coro = uvtask.sleep(0)
        await coro
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await coro

    run(main())


def test_infinite_durations_are_accepted_and_cancellable(run):
    async def main():
        job = asyncio.create_task(uvtask.sleep(math.inf))
        await asyncio.sleep(0.001)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job

    run(main())


def test_a_missing_file_raises_file_not_found_error_with_errno_and_filename(run, tmp_path):
    missing = str(tmp_path / "missing.bin")
    for coro in (uvtask.sha256_file(missing), ex.read_text(missing)):
        with pytest.raises(FileNotFoundError) as caught:
            run(coro)
        assert caught.value.errno == errno.ENOENT
        assert caught.value.filename == missing


def test_a_directory_raises_is_a_directory_error_with_the_path(run, tmp_path):
    with pytest.raises(IsADirectoryError) as caught:
        run(uvtask.sha256_file(str(tmp_path)))
    assert caught.value.errno == errno.EISDIR
    assert caught.value.filename == str(tmp_path)


def test_a_native_timeout_raises_timeout_error(run):
    with pytest.raises(TimeoutError):
        run(ex.native_timeout(0.01))


def test_other_native_errors_raise_runtime_error_with_the_message(run):
    with pytest.raises(RuntimeError, match="^boom$"):
        run(ex.fail("boom"))


def test_a_native_invalid_argument_raises_value_error_with_the_message(run):
    with pytest.raises(ValueError, match="^bad input$"):
        run(ex.invalid("bad input"))
