// uvtask — Event: a flag tasks can wait for (asyncio.Event).
#pragma once

#include <coroutine>

#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/wait_list.hpp"

namespace uvtask {

class Event;

namespace detail {

class EventWaitAwaiter : public SuspensionPoint, public WaitNode {
public:
    explicit EventWaitAwaiter(Event* event) noexcept : event_(event) {}
    ~EventWaitAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume() const;

private:
    friend class uvtask::Event;
    static void on_cancel_hook(Suspension* self) noexcept;
    Event* event_;
};

}  // namespace detail

/// A flag that starts clear; `set()` wakes every task waiting for it (asyncio.Event). Loop
/// thread only; not copyable or movable.
///
/// Cancellation: a waiter cancelled while waiting is unlinked and gets `CancelledError`; the
/// event is unchanged. A waiter that `set()` already woke returns normally even if it is
/// cancelled before it runs (atomic completion, docs/semantics.md §3.3): the cancel is delivered at its next
/// suspension point.
///
/// Destroying an Event that tasks still wait on wakes them with `InvalidStateError`.
class Event {
public:
    Event() noexcept = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event();

    /// Sets the flag and wakes every waiter, in the order they started waiting. Not a suspension
    /// point: the woken tasks run later, from the ready queue.
    void set() noexcept;
    /// Clears the flag; later `wait()`s block until the next `set()`.
    void clear() noexcept { set_ = false; }
    /// The flag.
    [[nodiscard]] bool is_set() const noexcept { return set_; }
    /// How many tasks wait now.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

    /// Waits until the flag is set; returns at once if it is. A suspension point: a pending
    /// cancel is thrown at once, even if the flag is set. Throws `CancelledError`, and
    /// `InvalidStateError` outside a task or if the Event is destroyed meanwhile.
    [[nodiscard]] detail::EventWaitAwaiter wait() noexcept { return detail::EventWaitAwaiter{this}; }

private:
    friend class detail::EventWaitAwaiter;
    detail::WaitList waiters_;
    bool set_ = false;
};

}  // namespace uvtask
