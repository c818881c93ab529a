// uvtask — shield(): wait for a task without passing your cancellation on to it.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <string>
#include <utility>

#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"

namespace uvtask {

/// Waits for `handle` like `co_await handle`, except that a cancel of the waiting task is not
/// passed on to the awaited task (asyncio.shield, docs/semantics.md §3.6).
///
/// Completes when: the task ends (its result, or its exception rethrown).
/// Suspension point: yes.
/// On cancel: the waiter stops waiting at once and gets `CancelledError`; the shielded task
/// runs on, and its result stays in the handle.
/// Throws: as `co_await handle` — the task's exception, `CancelledError` if it ended cancelled
/// or the waiter was cancelled, `InvalidStateError` for an empty handle or a task awaiting
/// itself. Calling `shield(handle)` itself throws nothing.
/// Thread safety: in a task of any loop: the handle's task may belong to another loop (its
/// result is delivered on the waiter's loop; docs/semantics.md §3.6).
template <class T>
[[nodiscard]] detail::JoinAwaiter<T, detail::JoinMode::shield> shield(
    const TaskHandle<T>& handle) noexcept {
    return detail::JoinAwaiter<T, detail::JoinMode::shield>{detail::state_of(handle)};
}

/// Spawns `task` and shields it, for the common `co_await shield(critical())`. The task runs to
/// its end whatever happens to the waiter; keep a handle (use the other overload) to collect its
/// result after the waiter was cancelled — otherwise a failure of it is reported through the
/// loop's exception handler.
///
/// Completes when: the spawned task ends. The task is spawned when this coroutine starts (at
/// its `co_await`), not at the call.
/// Suspension point: yes.
/// On cancel: as `shield(handle)`: the waiter gets `CancelledError`, the task runs on.
/// Throws: what the task throws; `CancelledError`; what `spawn` throws (`InvalidStateError`
/// with no loop or an empty Task, `std::bad_alloc`).
/// Thread safety: loop thread only.
template <class T>
Task<T> shield(Task<T> task) {
    TaskHandle<T> handle = spawn(std::move(task));
    if constexpr (std::is_void_v<T>) {
        co_await shield(handle);
    } else {
        T result = co_await shield(handle);
        co_return result;
    }
}

}  // namespace uvtask
