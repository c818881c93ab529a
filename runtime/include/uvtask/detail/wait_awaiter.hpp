// uvtask internals — the one awaiter of every wait on a synchronisation primitive.
#pragma once

#include <coroutine>

#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/wait_list.hpp"

namespace uvtask::detail {

/// What the errors of one kind of wait say: each awaiter has one constant table.
struct WaitTexts {
    const char* operation;         // "Lock::lock()": named when awaited outside a task
    const char* destroyed;         // InvalidStateError: the primitive was destroyed meanwhile
    const char* closed = nullptr;  // QueueClosedError: the primitive is closed
    const char* misuse = nullptr;  // InvalidStateError: the caller broke the primitive's rule
};

/// The base of every awaiter that waits in a primitive's `WaitList`: `Event::wait()`,
/// `Lock::lock()`, `Semaphore::acquire()`, `Condition::wait()`, `Queue::pop()` and
/// `Queue::push()`. It owns what they share:
///
/// - how `await_suspend` ends: `begin()` (no task, or a pending cancel: thrown without any
///   effect), `complete_now()` (nothing to wait for), `end_now(why)` (closed, misuse), or
///   `wait_in(list)`: queue at the back and suspend;
/// - the cancel hook of a queued waiter: unlink it and wake it cancelled — nothing happened;
/// - unlinking on destruction (a frame destroyed while it waits);
/// - the node's end hook: `grant()` wakes it completed and remembers that it was handed its
///   completion (`handed()`); `end(why)` wakes it with the reason;
/// - `end_of_wait()` in `await_resume`: throws what ended the wait, unless it completed.
///
/// What each primitive keeps is what completing means (take the item, own the lock) and the
/// rule for the one case where a completion and a cancel meet: the waiter was handed its
/// completion, then cancelled before it ran (`cancelled_after_hand_off()`). Lock and Semaphore
/// undo the acquisition and let the cancel win; Condition passes the notification on and lets
/// the cancel win; Event and Queue keep the completion (atomic completion, docs/semantics.md
/// §3.3), and the cancel waits for the task's next suspension point.
class WaitAwaiter : public SuspensionPoint, public WaitNode {
public:
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    /// `WaitInfo::detail` of a wait in a line (Lock, Semaphore, Condition, Queue; not Event,
    /// which wakes all at once): its place, e.g. " (waiter 2 of 3)" — " (one of 1000 waiters)"
    /// past 256. Throws `std::bad_alloc`.
    static void describe_place(const Suspension& self, std::string& out);

protected:
    explicit WaitAwaiter(EndHook on_end = &on_ended) noexcept : WaitNode(on_end) {}

    /// `await_suspend`, after `begin()`: the operation completed at once.
    bool complete_now() noexcept {
        status_ = Status::completed;
        return false;
    }
    /// `await_suspend`, after `begin()`: the operation ends at once for `why` (closed, misuse).
    bool end_now(WaitEnd why) noexcept {
        ended_ = why;
        status_ = Status::misuse;
        return false;
    }
    /// `await_suspend`, after `begin()`: queues at the back of `list` and suspends, waiting on
    /// what `info` names; `hook` runs if the task is cancelled meanwhile.
    bool wait_in(WaitList& list, std::coroutine_handle<> resume_at, const WaitInfo& info,
                 CancelHook hook = &on_cancel_queued) noexcept {
        list.push_back(this);
        park(resume_at, hook, info);
        return true;
    }
    /// Still suspended, ended by one list: queues at the back of `list` now, with the default end
    /// hook; `hook` runs if the task is cancelled meanwhile (a Condition's waiter, notified,
    /// queues for the lock).
    void wait_next_in(WaitList& list, CancelHook hook, const WaitInfo& info) noexcept {
        set_end_hook(&on_ended);
        on_cancel = hook;
        waits_on = &info;
        list.push_back(this);
    }

    /// The primitive handed this waiter its completion while it was queued.
    [[nodiscard]] bool handed() const noexcept { return ended_ == WaitEnd::handed; }
    /// In `await_resume`, after `end_of_wait()`: handed its completion, then cancelled before it
    /// ran (the cancel found it no longer suspended). Each primitive decides what this means.
    [[nodiscard]] bool cancelled_after_hand_off() const noexcept {
        return handed() && task_->cancel_deliverable();
    }

    /// The primitive's rule at resume: true when this resume delivers a cancel (the request is
    /// not consumed yet). The default: the wait was cancelled. A primitive with a rule for a
    /// completion met by a cancel (Lock, Semaphore, Condition) hides it with its own, which
    /// undoes the completion when it returns true and is called once per resume.
    [[nodiscard]] bool cancel_to_deliver() const noexcept { return status_ == Status::cancelled; }
    /// `await_resume_outcome` (the `nothrow()` form, docs/zero-exception.md) of `Self`: a cancel
    /// by `Self::cancel_to_deliver()` returned as a value, consumed as the throw would consume
    /// it; otherwise the Outcome of `Self::await_resume()` (which then delivers no cancel).
    template <class R, class Self>
    [[nodiscard]] static Outcome<R> wait_outcome(Self& self) noexcept {
        if (self.cancel_to_deliver()) [[unlikely]] {
            return Outcome<R>::cancelled(self.task_->take_cancel());
        }
        return capture_outcome<R>([&self]() -> R { return self.await_resume(); });
    }

    /// In `await_resume`: returns if the operation completed; otherwise throws what ended it —
    /// `CancelledError`, `InvalidStateError` (outside a task, the primitive destroyed, misuse),
    /// `QueueClosedError`.
    void end_of_wait(const WaitTexts& texts) const {
        if (status_ == Status::completed) [[likely]] {
            return;
        }
        throw_end_of_wait(texts);
    }

    /// The default end hook: wakes the task, completed if handed, else for the reason.
    static void on_ended(WaitNode* node, WaitEnd why) noexcept {
        auto* self = static_cast<WaitAwaiter*>(node);
        self->ended_ = why;
        self->wake(why == WaitEnd::handed ? Status::completed : Status::misuse);
    }
    /// The default cancel hook: unlinks the waiter and wakes it cancelled.
    static void on_cancel_queued(Suspension* suspension) noexcept {
        auto* self = static_cast<WaitAwaiter*>(suspension);
        self->leave();
        self->wake(Status::cancelled);
    }

private:
    [[noreturn]] void throw_end_of_wait(const WaitTexts& texts) const;

    WaitEnd ended_ = WaitEnd::none;
};

}  // namespace uvtask::detail
