// uvtask — deadlines inside the current task: Deadline, with_timeout(), move_on_after().
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "uvtask/clock.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/sleep.hpp"
#include "uvtask/task.hpp"
#include "uvtask/detail/bounded_work.hpp"
#include "uvtask/detail/cancel_scope.hpp"
#include "uvtask/detail/settle.hpp"
#include "uvtask/detail/task_state.hpp"
#include "uvtask/detail/timer_node.hpp"

namespace uvtask {

class Deadline;

namespace detail {
/// The runtime's access to a Deadline's scope operations (not public API).
struct DeadlineAccess;
}  // namespace detail

/// What `move_on_after` returns for a `Task<T>`: `std::optional<T>`, or `bool` for `Task<void>`
/// (true: the work ended before the deadline). (A type: nothing runs, nothing throws.)
template <class T>
using MoveOnResult = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

/// A deadline for work that runs inline in the current task (asyncio's `Timeout`, Trio's cancel
/// scope with a deadline). Create it, then `co_await deadline.run(work())`; while the work runs
/// the deadline can be moved with `reschedule` (also from inside the work, which may take the
/// Deadline by reference, or from another task of the same loop).
///
/// **How it expires** (asyncio.timeout's algorithm, docs/semantics.md §4): when the deadline passes
/// while the work runs, the current task is cancelled with `CancelKind::timeout` — through the
/// ordinary cancellation machinery, so whatever the work waits on stops at once (a sleep, a lock,
/// a queue, a join: an awaited task is cancelled too and waited for). When the work ends, the
/// deadline withdraws its request (`uncancel()`); if a `CancelledError` came out of the work and
/// no other cancel request is outstanding (the task's `cancelling()` is back to what it was when
/// the work started), that error was the deadline's own: it becomes `TimeoutError`. Otherwise —
/// the task was also cancelled by somebody else, in the same loop tick or earlier — the
/// `CancelledError` propagates: a timeout never hides or swallows an outer cancel.
///
/// Further rules, each decided here:
/// - The work completed despite the expiry (it returned a value before reaching a suspension
///   point, or it caught the `CancelledError` and returned — refusing): its value is returned,
///   no `TimeoutError` (asyncio 3.12), and a request of the deadline that was not delivered yet is
///   withdrawn, so no stray `CancelledError` hits the task later.
/// - Any other exception from the work propagates unchanged.
/// - Deadlines nest. Each one converts only the cancellation it caused: when an inner and an outer
///   deadline both expire, the inner one sees the outer's request outstanding and lets the
///   `CancelledError` through; the outer one turns it into its `TimeoutError`. The earliest
///   deadline therefore wins, and an inner deadline never steals an outer one's expiry (nor the
///   other way round).
/// - A deadline already past when the work starts cancels it at its first suspension point.
/// - `CancelledError` with kind `timeout` is what the work sees; if another request was pending
///   when the deadline expired, the work sees that request's message and kind instead.
/// - A task that refuses a cancel (catches `CancelledError` and goes on) should call
///   `this_task::uncancel()`: while its `cancelling()` stays raised by a request that arrived
///   during a deadline's work, that deadline reports `CancelledError`, not `TimeoutError`
///   (asyncio).
/// - The task's `stop_token()` is stop-requested by an expiry and stays so (a stop token cannot
///   be reset; docs/semantics.md §3.9).
/// - Inside `non_cancellable` (and `with_cleanup`'s cleanup) every cancel is held back for the
///   whole task, a deadline's included (docs/semantics.md §3.7): the bounded work runs to its end
///   and its value is returned; the expiry is withdrawn, nothing is delivered later. To bound a
///   cleanup, do not hold cancellation around it: catch the `CancelledError` and run the cleanup
///   under `with_timeout` (the asyncio idiom; the deadline still converts only its own expiry).
///
/// Resolution: the loop's libuv timer (milliseconds, never early), like `sleep`. A Deadline bounds
/// one piece of work (a second `run` throws `InvalidStateError`). It must outlive the `run` it is
/// awaited in. Not thread-safe: use it on its loop's thread.
///
/// Lifetime: made only by `after`, `at` and `never` (neither copyable nor movable: bind it with
/// `auto d = Deadline::after(…);`); its timer runs only while its work runs.
class Deadline : private detail::TimerNode {
public:
    /// The clock of `at`, `when` and `reschedule`: the loop's timer clock (`LoopClock`:
    /// `steady_clock`'s time, or the loop's virtual time).
    using Clock = LoopClock;

    /// A deadline `delay` from now (from this call, not from the start of the work); a delay
    /// of about 292 years or more means never.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `InvalidDurationError` for a negative or NaN `delay`.
    /// Thread safety: any thread (then used on one loop's thread).
    template <class Rep, class Period>
    [[nodiscard]] static Deadline after(std::chrono::duration<Rep, Period> delay) {
        return Deadline(after_ns(detail::checked_delay_ns(delay, "Deadline::after()")));
    }
    /// A deadline at `when` (a time in the past expires as soon as the work starts;
    /// `Clock::time_point::max()`: never).
    /// At once; not a suspension point; throws nothing; any thread (then one loop's thread).
    [[nodiscard]] static Deadline at(Clock::time_point when) noexcept {
        return Deadline(to_ns(when));
    }
    /// A deadline at `when` of another clock (`std::chrono::steady_clock`, `system_clock`):
    /// `after(when - C::now())`, read once, now — on a loop with virtual time, that long on the
    /// virtual clock (a past time expires as soon as the work starts; `time_point::max()`:
    /// never).
    /// At once; not a suspension point; throws what `C::now()` throws; any thread (then one
    /// loop's thread).
    template <class C, class D>
        requires(!std::is_same_v<C, Clock>)
    [[nodiscard]] static Deadline at(std::chrono::time_point<C, D> when) {
        return Deadline(foreign_to_ns(when));
    }
    /// No deadline (until `reschedule` sets one).
    /// At once; not a suspension point; throws nothing; any thread (then one loop's thread).
    [[nodiscard]] static Deadline never() noexcept { return Deadline(UINT64_MAX); }

    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;
    /// Stops its timer if it is still armed.
    /// At once; not a suspension point; throws nothing; loop thread only.
    ~Deadline();

    /// When the deadline expires (`Clock::time_point::max()` for never).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] Clock::time_point when() const noexcept;
    /// True once the deadline expired while its work ran (whether or not that became a
    /// `TimeoutError`). At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] bool expired() const noexcept { return expired_; }

    /// Moves the deadline to `when` (`Clock::time_point::max()`: never), before or while the work
    /// runs; while the work runs, a time already past expires it at once (before, as soon as
    /// the work starts).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable (an expiry it
    /// causes cancels the work's task, as the timer would).
    /// Throws: `InvalidStateError` once the deadline expired or its work ended (asyncio);
    /// `std::bad_alloc` if the timer cannot be armed.
    /// Thread safety: the loop's thread (from the work itself or another task of that loop).
    void reschedule(Clock::time_point when);
    /// `reschedule` to `when` of another clock, read as in `at`.
    template <class C, class D>
        requires(!std::is_same_v<C, Clock>)
    void reschedule(std::chrono::time_point<C, D> when) {
        reschedule_ns(foreign_to_ns(when));
    }
    /// `reschedule(now + delay)`; as `reschedule`, and also throws `InvalidDurationError` for a
    /// negative or NaN `delay`.
    template <class Rep, class Period>
    void reschedule_after(std::chrono::duration<Rep, Period> delay) {
        reschedule_ns(after_ns(detail::checked_delay_ns(delay, "Deadline::reschedule_after()")));
    }

    /// Runs `work` inline in the current task under this deadline and returns its result;
    /// `TimeoutError` if the deadline expired and the cancellation it caused ended the work
    /// (see the class comment for every race). `work` is a `Task` (by value), a `TaskHandle`
    /// (joined; on expiry its task is cancelled and waited for) or any uvtask awaitable
    /// (awaited inline, atomically; held by reference — await in the same full-expression):
    /// the rule of `wait_for`.
    ///
    /// Completes when: `work` has ended.
    /// Suspension point: yes (the work's own suspension points).
    /// On cancel: an outer cancel reaches the work and propagates as `CancelledError`.
    /// Throws: what `work` throws; `TimeoutError`; `CancelledError` if the task was cancelled by
    /// anyone else; `InvalidStateError` outside a task or on a second run.
    /// Thread safety: loop thread only.
    template <class A>
        requires detail::Boundable<A>
    [[nodiscard]] Task<detail::bounded_result_t<A>> run(A&& work);

    /// Like `run`, but an expiry of this deadline makes it return `std::nullopt` (`false` for
    /// a `void` result) instead of throwing `TimeoutError` (Trio's `move_on_after`).
    ///
    /// Completes when, Suspension point, On cancel, Thread safety: as `run`.
    /// Throws: what `work` throws; `CancelledError` if the task was cancelled by anyone else;
    /// `InvalidStateError` outside a task or on a second run. Never `TimeoutError` for this
    /// deadline's own expiry.
    template <class A>
        requires detail::Boundable<A>
    [[nodiscard]] Task<MoveOnResult<detail::bounded_result_t<A>>> move_on(A&& work);

private:
    friend struct detail::DeadlineAccess;
    /// What the end of the work turns into.
    enum class Exit : std::uint8_t { deliver, timed_out, deliver_pending_cancel };
    /// Starts bounding the current task. `InvalidStateError` outside a task or if already used;
    /// `std::bad_alloc`.
    void enter(const char* operation);
    /// The work ended (`failed`: with an exception; `is_cancel`: a CancelledError).
    [[nodiscard]] Exit leave(bool failed, bool is_cancel) noexcept;
    /// The work's frame is destroyed before it ended (loop teardown): disarm, touch nothing later.
    void abandon() noexcept;
    /// The `TimeoutError` or the pending `CancelledError` of `exit`, as the bounded coroutine's
    /// ending (no throw).
    [[nodiscard]] detail::Propagation ending_for(Exit exit, const char* operation) const noexcept;
    /// A deadline `delay_ns` from now.
    [[nodiscard]] static Deadline from_delay_ns(std::uint64_t delay_ns) noexcept {
        return Deadline(after_ns(delay_ns));
    }

    explicit Deadline(std::uint64_t when_ns) noexcept : when_ns_(when_ns) {}
    [[nodiscard]] static std::uint64_t after_ns(std::uint64_t delay_ns) noexcept;
    [[nodiscard]] static std::uint64_t to_ns(Clock::time_point when) noexcept;
    template <class C, class D>
    [[nodiscard]] static std::uint64_t foreign_to_ns(std::chrono::time_point<C, D> when) {
        if (when == std::chrono::time_point<C, D>::max()) {
            return UINT64_MAX;
        }
        const auto now = C::now();
        if (when <= now) {
            return 0;  // already past
        }
        return after_ns(detail::checked_delay_ns(when - now, "Deadline::at()"));
    }
    void reschedule_ns(std::uint64_t when_ns);
    void arm();
    void expire() noexcept;
    static void on_timer(detail::TimerNode* node) noexcept;

    std::uint64_t when_ns_;              // UINT64_MAX: never
    detail::TaskState* task_ = nullptr;  // the task the work runs in
    detail::CancelScope scope_;          // its cancel when we expire, and the withdrawal
    bool entered_ = false;
    bool left_ = false;
    bool expired_ = false;
};

namespace detail {

struct DeadlineAccess {
    using Exit = Deadline::Exit;
    [[nodiscard]] static Deadline from_delay_ns(std::uint64_t delay_ns) noexcept {
        return Deadline::from_delay_ns(delay_ns);
    }
    static void enter(Deadline& deadline, const char* operation) { deadline.enter(operation); }
    [[nodiscard]] static Exit leave(Deadline& deadline, bool failed, bool is_cancel) noexcept {
        return deadline.leave(failed, is_cancel);
    }
    static void abandon(Deadline& deadline) noexcept { deadline.abandon(); }
    [[nodiscard]] static Propagation ending_for(const Deadline& deadline, Exit exit,
                                                const char* operation) noexcept {
        return deadline.ending_for(exit, operation);
    }
};

/// Disarms a Deadline whose work's frame is destroyed before the work ended (loop teardown), so
/// that a Deadline living outside the frame never touches the task or the loop afterwards.
class DeadlineGuard {
public:
    explicit DeadlineGuard(Deadline& deadline) noexcept : deadline_(deadline) {}
    DeadlineGuard(const DeadlineGuard&) = delete;
    DeadlineGuard& operator=(const DeadlineGuard&) = delete;
    ~DeadlineGuard() { DeadlineAccess::abandon(deadline_); }

private:
    Deadline& deadline_;
};

/// The body of `Deadline::run`/`move_on`, `with_timeout` and `move_on_after`: `deadline` is the
/// caller's, or null for one made here, `delay_ns` from the start.
template <class T, bool MoveOn>
Task<std::conditional_t<MoveOn, MoveOnResult<T>, T>> bounded(Deadline* deadline,
                                                             std::uint64_t delay_ns, Task<T> work,
                                                             const char* operation) {
    using Access = DeadlineAccess;
    Deadline own = Access::from_delay_ns(deadline != nullptr ? UINT64_MAX : delay_ns);
    Deadline& scope = deadline != nullptr ? *deadline : own;
    Access::enter(scope, operation);
    DeadlineGuard guard(scope);
    Settled<T> outcome = co_await settle(std::move(work));
    const Access::Exit exit = Access::leave(scope, outcome.failed(), outcome.is_cancel);
    if constexpr (MoveOn) {
        if (exit == Access::Exit::timed_out) {
            co_return MoveOnResult<T>{};
        }
    }
    // The zero-exception path (docs/zero-exception.md): the work's cancellation, the timeout
    // and the work's failure leave this coroutine without a throw; a plain `co_await` of it
    // throws once, at the caller.
    if (exit != Access::Exit::deliver) {
        co_yield Access::ending_for(scope, exit, operation);
    }
    if (outcome.failed()) {
        co_yield std::move(outcome).ending();
    }
    if constexpr (MoveOn && std::is_void_v<T>) {
        co_return true;
    } else if constexpr (std::is_void_v<T>) {
        co_return;
    } else {
        co_return std::move(*outcome.value);
    }
}

}  // namespace detail

template <class A>
    requires detail::Boundable<A>
Task<detail::bounded_result_t<A>> Deadline::run(A&& work) {
    return detail::bounded<detail::bounded_result_t<A>, false>(
        this, 0, detail::as_bounded_work(static_cast<A&&>(work)), "Deadline::run()");
}

template <class A>
    requires detail::Boundable<A>
Task<MoveOnResult<detail::bounded_result_t<A>>> Deadline::move_on(A&& work) {
    return detail::bounded<detail::bounded_result_t<A>, true>(
        this, 0, detail::as_bounded_work(static_cast<A&&>(work)), "Deadline::move_on()");
}

/// Runs `work` inline in the current task (no new task) with a deadline `timeout` from the moment
/// it starts (asyncio's `async with timeout()`); returns its result, or throws `TimeoutError` once
/// the deadline expired and the cancellation it caused has ended the work. `work` is a `Task`
/// (by value), a `TaskHandle` (joined; on expiry its task is cancelled and waited for) or any
/// uvtask awaitable (`with_timeout(5s, stream.read_some(buf))`; awaited inline, atomically, held
/// by reference — await in the same full-expression): the one rule of `wait_for`. Every rule of
/// `Deadline` applies: an outer cancel always propagates as `CancelledError`, a refusing work's
/// value is returned, deadlines nest and the earliest wins. To move the deadline while the work
/// runs, use a `Deadline` object.
///
/// Completes when: `work` has ended.
/// Suspension point: yes (the work's own suspension points).
/// On cancel: an outer cancel reaches the work and propagates as `CancelledError`.
/// Throws: what `work` throws; `TimeoutError`; `CancelledError`; `InvalidDurationError` at the
/// call for a negative or NaN `timeout`; `InvalidStateError` when awaited outside a task.
/// Thread safety: loop thread only.
template <class A, class Rep, class Period>
    requires detail::Boundable<A>
[[nodiscard]] Task<detail::bounded_result_t<A>> with_timeout(
    std::chrono::duration<Rep, Period> timeout, A&& work) {
    return detail::bounded<detail::bounded_result_t<A>, false>(
        nullptr, detail::checked_delay_ns(timeout, "with_timeout()"),
        detail::as_bounded_work(static_cast<A&&>(work)), "with_timeout()");
}

/// Like `with_timeout` (the same `work` forms), but when the deadline expires the work is
/// abandoned quietly (Trio): returns `std::nullopt` (`false` for a `void` result) instead of
/// throwing `TimeoutError`: `co_await move_on_after(5s, stream.read_some(buf))`.
///
/// Completes when: `work` has ended.
/// Suspension point: yes (the work's own suspension points).
/// On cancel: an outer cancel still propagates as `CancelledError`.
/// Throws: what `work` throws; `CancelledError`; `InvalidDurationError` at the call;
/// `InvalidStateError` when awaited outside a task.
/// Thread safety: loop thread only.
template <class A, class Rep, class Period>
    requires detail::Boundable<A>
[[nodiscard]] Task<MoveOnResult<detail::bounded_result_t<A>>> move_on_after(
    std::chrono::duration<Rep, Period> timeout, A&& work) {
    return detail::bounded<detail::bounded_result_t<A>, true>(
        nullptr, detail::checked_delay_ns(timeout, "move_on_after()"),
        detail::as_bounded_work(static_cast<A&&>(work)), "move_on_after()");
}

}  // namespace uvtask
