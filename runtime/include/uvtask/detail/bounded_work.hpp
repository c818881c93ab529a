// uvtask internals — what a deadline can bound (`with_timeout`, `move_on_after`, `wait_for`,
// `Deadline::run`/`move_on`): a Task, a TaskHandle or any uvtask awaitable, each turned into the
// one Task the deadline runs inline in the awaiting task.
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

#include "uvtask/nothrow.hpp"
#include "uvtask/outcome.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/awaiter_traits.hpp"
#include "uvtask/detail/join.hpp"

namespace uvtask::detail {

/// Something `co_await` accepts that is neither a `Task` nor a `TaskHandle`: a sleep, a lock, a
/// queue operation, a stream read, a user's `Operation`…
template <class A>
concept PlainAwaitable = requires { typename AwaiterOf<A>::type; } && !TaskOrHandle<A>;

/// What a deadline accepts: a `Task` given by value (moved in; an lvalue Task is refused rather
/// than silently emptied), a `TaskHandle` (copied), or a plain awaitable.
template <class A>
concept Boundable = (TaskType<A> && !std::is_lvalue_reference_v<A>) ||
                    is_task_handle_v<std::remove_cvref_t<A>> || PlainAwaitable<A>;

template <class A>
struct BoundedResult {
    using type = await_result_t<A>;
};
template <class A>
    requires TaskOrHandle<A>
struct BoundedResult<A> {
    using type = typename std::remove_cvref_t<A>::value_type;
};
/// What bounding `A` returns when it completes in time.
template <class A>
using bounded_result_t = typename BoundedResult<A>::type;

/// The join of a task the deadline owns while it waits (`JoinMode::owned`): on expiry or an outer
/// cancel the task is cancelled and waited for.
template <class T>
[[nodiscard]] JoinAwaiter<T, JoinMode::owned> owned_join(const TaskHandle<T>& handle) noexcept {
    return JoinAwaiter<T, JoinMode::owned>{state_of(handle)};
}

/// Awaits `awaitable` (a plain awaitable, or the owned join of a handle) and ends with what it
/// ended with: its value, or its cancellation or error passed on without a throw (the
/// zero-exception path, docs/zero-exception.md; the deadline decides what to make of it).
template <class R, class A>
Task<R> await_inline(A&& awaitable) {
    Outcome<R> outcome = co_await nothrow(static_cast<A&&>(awaitable));
    if (!outcome) {
        co_yield propagate(std::move(outcome));
    }
    if constexpr (std::is_void_v<R>) {
        co_return;
    } else {
        co_return std::move(outcome).value();
    }
}

/// The owned join of `handle` (kept alive here for the whole wait), ended as `await_inline` ends.
template <class T>
Task<T> join_handle(TaskHandle<T> handle) {
    Outcome<T> outcome = co_await nothrow(owned_join(handle));
    if (!outcome) {
        co_yield propagate(std::move(outcome));
    }
    if constexpr (std::is_void_v<T>) {
        co_return;
    } else {
        co_return std::move(outcome).value();
    }
}

/// The Task a deadline runs for `work`: the Task itself, the join of the handle, or the awaitable
/// awaited inline (held by reference: it must be awaited in the same full-expression).
template <class A>
    requires Boundable<A>
[[nodiscard]] Task<bounded_result_t<A>> as_bounded_work(A&& work) {
    using Plain = std::remove_cvref_t<A>;
    if constexpr (is_task_v<Plain>) {
        return std::move(work);
    } else if constexpr (is_task_handle_v<Plain>) {
        return join_handle(Plain(work));
    } else {
        return await_inline<bounded_result_t<A>, A>(static_cast<A&&>(work));
    }
}

}  // namespace uvtask::detail
