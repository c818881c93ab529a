// uvtask — Event: a flag tasks can wait for (asyncio.Event).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <cstddef>

#include "uvtask/detail/wait_awaiter.hpp"

namespace uvtask {

class Event;

namespace detail {

class EventWaitAwaiter : public WaitAwaiter {
public:
    explicit EventWaitAwaiter(Event* event) noexcept : event_(event) {}
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume() const;
    Outcome<void> await_resume_outcome() noexcept { return wait_outcome<void>(*this); }

private:
    Event* event_;
};

}  // namespace detail

/// A flag that starts clear; `set()` wakes every task waiting for it (asyncio.Event). Not
/// copyable or movable.
///
/// Cancellation: a waiter cancelled while waiting is unlinked and gets `CancelledError`; the
/// event is unchanged. A waiter that `set()` already woke returns normally even if it is
/// cancelled before it runs (atomic completion, docs/semantics.md §3.3): the cancel is delivered
/// at its next suspension point.
///
/// Thread safety: loop thread only, like every member.
class Event {
public:
    /// A clear Event.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread; then used on one loop's thread only.
    Event() noexcept = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    /// Destroys the Event; tasks still waiting on it are woken and their `wait()` throws
    /// `InvalidStateError`.
    ///
    /// Completes when: at once; the waiters resume later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~Event() = default;

    /// Sets the flag and wakes every waiter, in the order they started waiting.
    ///
    /// Completes when: at once; the woken tasks run later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable. A woken waiter cancelled before it runs still returns
    /// normally from `wait()`.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    void set() noexcept;
    /// Clears the flag: later `wait()`s block until the next `set()`. Waiters `set()` already
    /// woke still return normally.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    void clear() noexcept { set_ = false; }
    /// The flag.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool is_set() const noexcept { return set_; }
    /// How many tasks wait now.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

    /// Waits until the flag is set: `co_await event.wait();`.
    ///
    /// Completes when: the flag is set — at once if it is set already, else at the next `set()`.
    /// Suspension point: yes — a pending cancel is thrown at once, even if the flag is set.
    /// On cancel: while waiting, the waiter is unlinked and `CancelledError` thrown; the event is
    /// unchanged. Once `set()` woke it, the wait returns normally and the cancel is delivered at
    /// the next suspension point.
    /// Throws: `CancelledError`; `InvalidStateError` outside a task, or if the Event is destroyed
    /// while the task waits.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::EventWaitAwaiter wait() noexcept {
        return detail::EventWaitAwaiter{this};
    }

private:
    friend class detail::EventWaitAwaiter;
    detail::WaitList waiters_;
    bool set_ = false;
};

}  // namespace uvtask
