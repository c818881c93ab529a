// uvtask — wait_for(): a task, a handle or any uvtask awaitable, with a timeout (asyncio.wait_for).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <concepts>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "uvtask/sleep.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/timeout.hpp"
#include "uvtask/detail/bounded_work.hpp"

namespace uvtask {

/// Waits for `work` at most `timeout` (asyncio.wait_for) and returns its result or rethrows its
/// exception. `work` is any of what a deadline bounds, with one rule for all three
/// (`with_timeout` and `move_on_after` too): **the bounded work runs inline in the awaiting
/// task**, as in asyncio 3.12, where `wait_for` became `async with timeout()`:
/// - a `Task<T>` (by value) runs inline in the current task — no new task is spawned;
/// - a `TaskHandle<T>` is joined: that task is its own; on expiry it is cancelled (kind
///   `timeout`) and **waited for**, so nothing is left running;
/// - any uvtask awaitable — `sleep(…)`, `queue.pop()`, `lock.lock()`, `stream.read_some(buf)`,
///   an `Operation` — is awaited inline, atomically (docs/semantics.md §3.3): on expiry it is
///   cancelled and has ended before `TimeoutError` is thrown (a `pop()` that already received
///   its item returns it instead). It is held by reference: await the result in the same
///   full-expression (`auto item = co_await wait_for(queue.pop(), 100ms);`).
/// `wait_for(work, t)` is `with_timeout(t, work)` with asyncio's argument order. To run work as
/// a task of its own with a timeout, spawn it and pass the handle.
///
/// Completes when: `work` has ended — in time, or after the expiry's cancel ended it.
/// Suspension point: yes (the work's own suspension points).
/// On cancel: the waiting task's cancel reaches the work as it would without `wait_for` (a
/// handle's task is cancelled and waited for); the waiter then gets `CancelledError` — before,
/// after or in the same loop tick as the expiry: never `TimeoutError`, and never swallowed (the
/// rules of `Deadline`). A work that refuses the expiry's cancel and returns a value returns it.
/// Throws: what `work` throws; `TimeoutError` on expiry; `CancelledError`;
/// `InvalidDurationError` at the call for a negative or NaN `timeout`; `InvalidStateError`
/// outside a task or for an empty handle.
/// Thread safety: loop thread only.
template <class A, class Rep, class Period>
    requires detail::Boundable<A>
[[nodiscard]] Task<detail::bounded_result_t<A>> wait_for(
    A&& work, std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t ns = detail::checked_delay_ns(timeout, "wait_for()");
    return detail::bounded<detail::bounded_result_t<A>, false>(
        nullptr, ns, detail::as_bounded_work(static_cast<A&&>(work)), "wait_for()");
}

}  // namespace uvtask
