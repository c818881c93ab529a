"""Type stubs of uvtask._uvtask, the extension module behind the package uvtask."""
import asyncio
import os
from typing import Any, Coroutine

def sleep(seconds: float) -> Coroutine[Any, Any, None]:
    """Sleeps for at least `seconds` on uvtask's native loop (a libuv timer, millisecond
    resolution). Cancelling the awaiting task stops the timer; CancelledError is raised once the
    native task has ended. TypeError if `seconds` is not a number; ValueError if it is negative
    or NaN (raised at the call)."""

def spin(seconds: float) -> Coroutine[Any, Any, None]:
    """Keeps a CPU busy for `seconds` on the native thread, passing a checkpoint() every few
    nanoseconds: CPU-bound native work that a cancel really stops, while the asyncio loop stays
    free. TypeError if `seconds` is not a number; ValueError if it is negative or NaN."""

def count_primes(limit: int) -> Coroutine[Any, Any, int]:
    """The number of primes p <= limit: a segmented sieve on the native thread with a
    checkpoint() after every 64 Ki numbers, so a cancel interrupts it at once. TypeError if
    `limit` is not an int; ValueError if it is negative or above 2**40."""

def sha256_file(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> Coroutine[Any, Any, str]:
    """The SHA-256 of the file at `path` (64 lowercase hex digits), read in 256 KiB blocks
    through libuv's thread pool and hashed natively with a checkpoint() after every 16 KiB; a
    cancel stops it between blocks or slices and closes the file. TypeError if `path` is not a
    path, ValueError if it has a NUL byte (at the call); OSError subclasses with errno and filename (FileNotFoundError,
    IsADirectoryError…) at the await."""

def live_tasks() -> int:
    """How many native tasks have not ended (0 before the first native call). A native task has
    ended — its cleanup done — before its awaiter gets its result or CancelledError."""

def _noop() -> Coroutine[Any, Any, None]:
    """Benchmark: the cheapest native round trip."""

def _gil_wait_ns() -> int:
    """Benchmark: nanoseconds the native thread has waited for the GIL (call_soon_threadsafe
    completion mode only; 0 with the eventfd)."""

def _shutdown() -> None:
    """Stops the native loop (registered with atexit): cancels every native task, waits for
    them, joins the thread. Later calls raise RuntimeError."""

class _NativeCall:
    """One native call (internal)."""
    @property
    def name(self) -> str: ...
    def _start(self, port: _Port, future: asyncio.Future[Any]) -> None: ...
    def _cancel(self, message: str) -> bool: ...

class _Port:
    """Where ended native calls wait for one asyncio loop (internal)."""
    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def drain(self) -> None: ...
    def _use_call_soon_threadsafe(self, loop: asyncio.AbstractEventLoop, drain: Any) -> None: ...
