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
#include "uvtask/detail/join.hpp"

namespace uvtask {

namespace detail {

template <class A>
concept HasMemberCoAwait = requires(A&& a) { static_cast<A&&>(a).operator co_await(); };

template <class W>
concept AwaiterShape = requires(W& w) {
    { w.await_ready() } -> std::convertible_to<bool>;
    w.await_resume();
};

template <class A>
struct AwaiterOf {};
template <class A>
    requires HasMemberCoAwait<A>
struct AwaiterOf<A> {
    using type = decltype(std::declval<A>().operator co_await());
};
template <class A>
    requires(!HasMemberCoAwait<A> && AwaiterShape<std::remove_reference_t<A>>)
struct AwaiterOf<A> {
    using type = std::remove_reference_t<A>;
};

/// Something `co_await` accepts that is neither a `Task` nor a `TaskHandle`: a sleep, a lock, a
/// queue operation…
template <class A>
concept PlainAwaitable = requires { typename AwaiterOf<A>::type; } &&
                         !TaskOrHandle<A>;

template <class A>
using await_result_t = std::remove_cvref_t<
    decltype(std::declval<std::remove_reference_t<typename AwaiterOf<A>::type>&>().await_resume())>;

/// `wait_for`'s join of a task it owns (`JoinMode::owned`).
template <class T>
[[nodiscard]] JoinAwaiter<T, JoinMode::owned> owned_join(const TaskHandle<T>& handle) noexcept {
    return JoinAwaiter<T, JoinMode::owned>{state_of(handle)};
}

template <class T>
Task<T> join_handle(TaskHandle<T> handle) {
    if constexpr (std::is_void_v<T>) {
        co_await owned_join(handle);
    } else {
        T result = co_await owned_join(handle);
        co_return result;
    }
}

template <class T>
Task<T> spawn_and_join(Task<T> task) {
    TaskHandle<T> handle = spawn(std::move(task));
    if constexpr (std::is_void_v<T>) {
        co_await owned_join(handle);
    } else {
        T result = co_await owned_join(handle);
        co_return result;
    }
}

template <class R, class A>
Task<R> await_inline(A&& awaitable) {
    if constexpr (std::is_void_v<R>) {
        co_await static_cast<A&&>(awaitable);
    } else {
        R result = co_await static_cast<A&&>(awaitable);
        co_return result;
    }
}

}  // namespace detail

/// Waits for the spawned task `handle` at most `timeout` (asyncio.wait_for on a task). Returns
/// its result or rethrows its exception. When the timeout expires the task is cancelled (kind
/// `timeout`) and **waited for**: `TimeoutError` is thrown only once it has ended — nothing is
/// left running (no orphans). If the task refuses the cancel and returns a value anyway, that value
/// is returned (asyncio 3.12); if it fails, its exception propagates.
///
/// If the waiting task is cancelled — before, after or in the same loop tick as the expiry, or
/// already when `wait_for` starts — the cancel is passed on to the awaited task as with
/// `co_await handle`, and the waiter gets
/// `CancelledError` once it has ended: never `TimeoutError`, and the cancel is never swallowed
/// (the rules of `Deadline`). A suspension point. Throws `InvalidDurationError` at the call for a
/// negative or NaN `timeout`, `InvalidStateError` outside a task or for a handle of another loop.
template <class T, class Rep, class Period>
[[nodiscard]] Task<T> wait_for(TaskHandle<T> handle, std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t ns = detail::checked_delay_ns(timeout, "wait_for()");
    return detail::bounded<T, false>(nullptr, ns, detail::join_handle(std::move(handle)),
                                     "wait_for()");
}

/// Spawns `task` as a new task when the returned Task is awaited, and waits for it at most
/// `timeout`: exactly `wait_for(handle, timeout)` on it (asyncio.wait_for on a coroutine).
/// To bound work inline in the current task instead, use `with_timeout`.
template <class T, class Rep, class Period>
[[nodiscard]] Task<T> wait_for(Task<T> task, std::chrono::duration<Rep, Period> timeout) {
    const std::uint64_t ns = detail::checked_delay_ns(timeout, "wait_for()");
    return detail::bounded<T, false>(nullptr, ns, detail::spawn_and_join(std::move(task)),
                                     "wait_for()");
}

/// Awaits a single uvtask awaitable — `sleep(…)`, `queue.pop()`, `lock.lock()`, `event.wait()`…
/// — inline in the current task, at most `timeout`. The operation is atomic (docs/semantics.md §3.3): on
/// expiry it is cancelled and has ended before `TimeoutError` is thrown (a `pop()` that already
/// received its item returns it instead). Same cancellation rules as the other overloads.
///
/// The awaitable is held by reference: await the result in the same full-expression
/// (`auto item = co_await wait_for(queue.pop(), 100ms);`), never store it for later.
template <class A, class Rep, class Period>
    requires detail::PlainAwaitable<A>
[[nodiscard]] Task<detail::await_result_t<A>> wait_for(A&& awaitable,
                                                       std::chrono::duration<Rep, Period> timeout) {
    using R = detail::await_result_t<A>;
    const std::uint64_t ns = detail::checked_delay_ns(timeout, "wait_for()");
    return detail::bounded<R, false>(
        nullptr, ns, detail::await_inline<R, A>(static_cast<A&&>(awaitable)), "wait_for()");
}

}  // namespace uvtask
