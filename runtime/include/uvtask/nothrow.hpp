// uvtask — nothrow(x): await anything and receive how it ended as an Outcome, cancellation
// included, instead of an exception (the zero-exception path, docs/zero-exception.md).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <type_traits>
#include <utility>

#include "uvtask/outcome.hpp"
#include "uvtask/task.hpp"
#include "uvtask/detail/awaiter_traits.hpp"

namespace uvtask {

namespace detail {

/// An awaiter that can deliver how it ended as an `Outcome` without throwing.
template <class W>
concept DeliversOutcome = requires(W& w) { w.await_resume_outcome(); };

/// `co_await nothrow(a)`: the awaiter of `a`, resumed as an Outcome. An `a` that is an awaiter
/// itself is held by reference (it lives until the end of the full-expression that awaits it);
/// otherwise its `operator co_await()` result is held here.
template <class A>
class NothrowAwaiter {
    using Inner = typename AwaiterOf<A>::type;
    using Held = std::conditional_t<HasMemberCoAwait<A>, Inner, Inner&>;

public:
    using result_type = await_result_t<A>;

    explicit NothrowAwaiter(A&& awaitable) noexcept(holds_without_throw())
        : inner_(held(static_cast<A&&>(awaitable))) {}
    NothrowAwaiter(const NothrowAwaiter&) = delete;
    NothrowAwaiter& operator=(const NothrowAwaiter&) = delete;

    [[nodiscard]] bool await_ready() noexcept(noexcept(std::declval<Inner&>().await_ready())) {
        return inner_.await_ready();
    }
    template <class Promise>
    decltype(auto) await_suspend(std::coroutine_handle<Promise> caller) noexcept(
        noexcept(std::declval<Inner&>().await_suspend(caller))) {
        return inner_.await_suspend(caller);
    }
    Outcome<result_type> await_resume() noexcept(resumes_without_throw()) {
        if constexpr (DeliversOutcome<Inner>) {
            return inner_.await_resume_outcome();
        } else {
            return capture_outcome<result_type>([this]() -> decltype(auto) {
                return inner_.await_resume();
            });
        }
    }

private:
    /// `capture_outcome` never throws; an awaiter's own outcome path may (a Task's, copying a
    /// mixed chain's cancel message: `std::bad_alloc`).
    static constexpr bool resumes_without_throw() noexcept {
        if constexpr (DeliversOutcome<Inner>) {
            return noexcept(std::declval<Inner&>().await_resume_outcome());
        } else {
            return true;
        }
    }
    static constexpr bool holds_without_throw() noexcept {
        if constexpr (HasMemberCoAwait<A>) {
            return noexcept(std::declval<A>().operator co_await());
        } else {
            return true;
        }
    }
    static Held held(A&& awaitable) noexcept(holds_without_throw()) {
        if constexpr (HasMemberCoAwait<A>) {
            return static_cast<A&&>(awaitable).operator co_await();
        } else {
            return awaitable;
        }
    }
    Held inner_;
};

}  // namespace detail

/// `co_await nothrow(x)`: awaits `x` — any uvtask awaitable (sleep, a lock, a queue operation, a
/// stream read, `to_thread`, an `Operation`…), a `Task<T>` (by value, run inline) or a
/// `TaskHandle<T>` (joined) — and returns `Outcome<R>` (outcome.hpp) instead of throwing: the
/// value, the cancellation (`message()`, `kind()`), or any other exception, as a value. The
/// semantics are those of `co_await x` (docs/semantics.md §3): a cancel is delivered at the
/// same suspension point, consumed exactly as the throw would consume it (one delivery per
/// request, `cancelling()` unchanged), and an operation that completed is returned even if a
/// cancel arrived meanwhile (atomic completion). Which awaitables deliver a cancel with no
/// throw at all, and which catch one internally, is listed in docs/zero-exception.md.
///
/// Completes when: `x` has ended (as `co_await x` does).
/// Suspension point: exactly when `co_await x` is one.
/// On cancel: the `CancelledError` that `co_await x` would throw is returned in the Outcome.
/// Throws: nothing, except `std::bad_alloc` when a `Task` awaited inline let a thrown
/// `CancelledError` escape and its message cannot be copied (the mixed path); every other
/// error is returned in the Outcome.
/// Thread safety: as `co_await x` (the thread of the loop the task runs on).
template <class A>
    requires requires { typename detail::AwaiterOf<A&&>::type; }
[[nodiscard]] detail::NothrowAwaiter<A&&> nothrow(A&& awaitable) noexcept(
    noexcept(detail::NothrowAwaiter<A&&>(static_cast<A&&>(awaitable)))) {
    return detail::NothrowAwaiter<A&&>(static_cast<A&&>(awaitable));
}

}  // namespace uvtask
