"""The asyncio side of the bridge to uvtask's native loop (internal; see docs/python.md).

Awaiting a native awaitable runs `_await(call)`: it creates a `NativeFuture` on the running
asyncio loop, starts the native task, and waits for the future. The native loop thread hands
the ended call to the asyncio loop through the loop's `_Port` (an eventfd the loop watches with
`add_reader`; the native thread never takes the GIL), and `_Port.drain` completes the future.
"""
import asyncio
import weakref

from . import _uvtask

#: How ended native calls reach an asyncio loop: "eventfd" (the default: the native thread
#: writes an eventfd the asyncio loop watches) or "call_soon_threadsafe" (the native thread takes
#: the GIL and calls `loop.call_soon_threadsafe`; kept for the benchmark that compares the two).
#: Read when a loop's port is created.
completion_mode = "eventfd"

_ports: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _uvtask._Port]" = (
    weakref.WeakKeyDictionary())
_get_running_loop = asyncio.get_running_loop


class NativeFuture(asyncio.Future):
    """The future a native call completes. `cancel(msg)` forwards to the native task and leaves
    the future pending until the native task has ended, so the awaiting task sees
    `CancelledError` only after the native cleanup — as awaiting an `asyncio.Task` does."""

    _native = None
    _cancel_msg = None  # the latest accepted cancel's message, as given
    _cancel_texts = None  # every message sent to the native task (as str), once accepted

    def cancel(self, msg=None):
        if self.done():
            return False
        native = self._native
        if native is None:
            return super().cancel(msg)
        text = "" if msg is None else str(msg)
        if native._cancel(text):
            self._cancel_msg = msg
            if self._cancel_texts is None:
                self._cancel_texts = set()
            self._cancel_texts.add(text)
            return True
        # The native task has ended and its result is on its way: like a done future, refuse,
        # so that asyncio delivers the cancel to the awaiting task itself.
        return False

    def _native_cancelled(self, text):
        """The native task ended cancelled, with `text` as its CancelledError's message. Ended by
        one of this future's cancels: the latest accepted cancel's message wins, as given — the
        native task may have received an earlier one first (it runs on another thread, and a
        later request does not rewrite an error already thrown). Ended by a cancel of its own
        (the interpreter's exit, a native deadline): its message."""
        if self._cancel_texts is not None and text in self._cancel_texts:
            msg = self._cancel_msg
        else:
            msg = text or None
        super().cancel(msg)


def _port_of(loop):
    port = _ports.get(loop)
    if port is None:
        port = _uvtask._Port()
        if completion_mode == "call_soon_threadsafe":
            port._use_call_soon_threadsafe(loop, port.drain)
        loop.add_reader(port.fileno(), port.drain)
        _ports[loop] = port
    return port


async def _await(call):
    loop = _get_running_loop()
    future = NativeFuture(loop=loop)
    call._start(_port_of(loop), future)
    future._native = call
    return await future
