"""uvtask for asyncio: native work that `task.cancel()` really stops.

asyncio cannot interrupt CPU-bound code, and cannot stop a thread it awaits. The awaitables of
this package run on uvtask's native loop (C++20 coroutines on libuv, on a thread of its own,
without the GIL) and pass a cancellation checkpoint every few microseconds, so cancelling the
asyncio task that awaits one stops the native work at once — and the awaiter sees
`asyncio.CancelledError` only after the native cleanup has finished::

    import asyncio, uvtask

    async def main():
        job = asyncio.create_task(uvtask.count_primes(10**12))  # minutes of native CPU work
        await asyncio.sleep(0.1)          # the asyncio loop stays free meanwhile
        job.cancel("user pressed stop")   # stops the native sieve within microseconds
        try:
            await job
        except asyncio.CancelledError as e:
            print("stopped:", e.args, "native tasks left:", uvtask.live_tasks())

    asyncio.run(main())

Everything asyncio offers works on these awaitables unchanged (`wait_for`, `timeout`, `shield`,
`TaskGroup`, `gather`, uvloop). Native errors become Python's: `TimeoutError`, `OSError`
subclasses by errno (`FileNotFoundError`…), `ValueError`, `RuntimeError`. C++ extensions expose
their own `uvtask::Task<T>` functions with `uvtask/python.hpp` (call `share_runtime()` before
importing them). Reference: docs/python.md.
"""
import atexit as _atexit
import ctypes as _ctypes
import os as _os

from . import _uvtask
from ._uvtask import count_primes, live_tasks, sha256_file, sleep, spin

__all__ = ["count_primes", "live_tasks", "sha256_file", "share_runtime", "sleep", "spin"]
__version__ = "0.1.0"

# Registered at import, so it runs after every atexit handler registered later (atexit is
# LIFO): those may still use uvtask. It cancels every native task, waits for them and joins the
# native thread, before the interpreter's finalisation starts.
_atexit.register(_uvtask._shutdown)

_shared = None


def share_runtime() -> None:
    """Makes the uvtask runtime's C++ symbols visible to extension modules loaded after this
    call, so that a C++ extension built on `uvtask/python.hpp` (which does not link the runtime)
    uses this module's runtime and loop. Call it in the extension package's `__init__.py`, before
    importing the extension. Idempotent.

    Completes at once. Raises OSError if the dynamic loader refuses."""
    global _shared
    if _shared is None:
        # RTLD_NOLOAD: the module is loaded already; this only promotes it to RTLD_GLOBAL.
        _shared = _ctypes.CDLL(_uvtask.__file__, mode=_os.RTLD_GLOBAL | _os.RTLD_NOLOAD)
