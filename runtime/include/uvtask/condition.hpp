// uvtask — Condition: wait for a notification while holding a Lock (asyncio.Condition).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <concepts>
#include <coroutine>
#include <cstddef>

#include "uvtask/lock.hpp"
#include "uvtask/task.hpp"
#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/wait_awaiter.hpp"

namespace uvtask {

class Condition;

namespace detail {

/// The tag of a wait's link in its Condition's list of waits in progress.
struct ConditionWaitTag {};

/// `co_await condition.wait()`: releases the lock, waits for a notification, re-acquires the lock
/// — all with one wait node, which moves from the condition's queue to the lock's when notified
/// (wait morphing), so a wait allocates nothing. Its Condition knows it from the start of the
/// wait to its end (`ListHook<ConditionWaitTag>`), so that destroying the Condition meanwhile
/// leaves it nothing to touch.
class ConditionWaitAwaiter : public WaitAwaiter, public ListHook<ConditionWaitTag> {
public:
    explicit ConditionWaitAwaiter(Condition* condition) noexcept;
    ~ConditionWaitAwaiter();
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();
    Outcome<void> await_resume_outcome() noexcept { return wait_outcome<void>(*this); }
    /// Cancelled while waiting for the notification (and holding the lock again), or notified
    /// and handed the lock, then cancelled before it ran (the notification passes on): the
    /// cancel wins. A request withdrawn meanwhile is a spurious wake-up, not a cancel.
    [[nodiscard]] bool cancel_to_deliver() noexcept;

private:
    friend class uvtask::Condition;

    /// Notified (or cancelled, or the condition destroyed): queue for the lock.
    void relock(CancelHook hook_meanwhile) noexcept;
    /// Gives our notification to the next waiter (we were cancelled after we got it).
    void pass_notification_on() noexcept;
    static void on_notified(WaitNode* node, WaitEnd why) noexcept;
    static void on_cancel_waiting_notify(Suspension* suspension) noexcept;
    static void on_cancel_waiting_lock(Suspension* suspension) noexcept;
    static void on_cancel_ignored(Suspension* suspension) noexcept;

    Condition* condition_;  // null once the Condition is destroyed
    Lock* lock_;
    bool cancelled_ = false;            // the cancel hook ran: throw once the lock is ours again
    bool condition_destroyed_ = false;  // ended by the Condition's destruction: throw, likewise
};

}  // namespace detail

/// A condition variable for tasks (asyncio.Condition): a task holding the Lock calls `wait()`,
/// which releases the lock, waits for `notify()`, and re-acquires the lock before it returns —
/// also when it throws, so the caller's `LockGuard` is always right. Not copyable or movable.
///
/// ```
/// auto guard = co_await condition.scoped();
/// co_await condition.wait_for([&] { return !items.empty(); });
/// ```
///
/// **Fair**: notifications go to waiters in the order they started waiting; notified waiters
/// queue for the lock in that order.
///
/// **Cancel-safe**: a waiter cancelled before it is notified leaves the queue, re-acquires the
/// lock (its place in the lock's queue cannot be cancelled) and throws `CancelledError`. A waiter
/// that was notified but is cancelled before it runs passes its notification on to the next
/// waiter (so `notify(1)` is never lost to a cancelled task), re-acquires the lock and throws
/// `CancelledError` (asyncio 3.13). Spurious wake-ups are possible (a cancel withdrawn with
/// `uncancel()`): wait in a loop, or use `wait_for(predicate)`.
///
/// Thread safety: loop thread only, like every member.
class Condition {
public:
    /// A condition with its own Lock.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread; then used on one loop's thread only.
    Condition() noexcept : lock_(&own_lock_) {}
    /// A condition using `lock`, which must outlive it.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread; then used on `lock`'s loop thread only.
    explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;
    /// Destroys the Condition. Waiters not notified yet are moved to the lock's queue and throw
    /// `InvalidStateError` once they hold it; waiters notified already go on re-acquiring the
    /// lock as if it were still there (one cancelled meanwhile has nobody to pass its
    /// notification to, and throws `CancelledError` holding the lock). A Condition with its own
    /// Lock destroys that Lock too, and the tasks waiting for it throw as `~Lock` says.
    ///
    /// Completes when: at once; the waiters resume later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~Condition();

    /// The Lock `wait()` releases and re-acquires.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] Lock& get_lock() noexcept { return *lock_; }
    /// `get_lock().scoped()`: `LockGuard guard = co_await condition.scoped();`.
    ///
    /// Completes when: as `Lock::scoped()`.
    /// Suspension point: yes, as `Lock::scoped()`.
    /// On cancel: as `Lock::scoped()`.
    /// Throws: as `Lock::scoped()`.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::ScopedLockAwaiter scoped() noexcept { return lock_->scoped(); }

    /// Releases the lock, waits until notified, re-acquires the lock: `co_await
    /// condition.wait();`. The caller must hold the lock.
    ///
    /// Completes when: a `notify()` chose this waiter and it holds the lock again.
    /// Suspension point: yes — a pending cancel is thrown at once, the lock still held (never
    /// released).
    /// On cancel: before a notification, the waiter leaves the condition's queue, re-acquires
    /// the lock (waiting for it, not cancellably) and throws `CancelledError`. Notified, then
    /// cancelled before it ran (waiting for the lock, or handed it already): the notification
    /// goes to the next waiter, and it throws `CancelledError` holding the lock.
    /// Throws: `CancelledError` (with the lock held again); `InvalidStateError` if the lock is
    /// not held, outside a task, if the Condition is destroyed before a notification (with the
    /// lock held again), or if the Lock is destroyed meanwhile.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::ConditionWaitAwaiter wait() noexcept {
        return detail::ConditionWaitAwaiter{this};
    }
    /// Waits until `predicate()` is true, calling it with the lock held before each wait
    /// (asyncio's `Condition.wait_for`): `co_await condition.wait_for(predicate);`. The caller
    /// must hold the lock.
    ///
    /// Completes when: `predicate()` returns true — at once if it does before any wait.
    /// Suspension point: yes, each `wait()` it makes; none if the predicate holds at once (a
    /// pending cancel is then not delivered here).
    /// On cancel: as `wait()`; the predicate is not called again.
    /// Throws: as `wait()`; what `predicate` throws (with the lock held); `std::bad_alloc` (it
    /// allocates one coroutine frame).
    /// Thread safety: loop thread only.
    template <class Predicate>
    requires std::predicate<Predicate&>
    [[nodiscard]] Task<void> wait_for(Predicate predicate) {
        while (!predicate()) {
            co_await wait();
        }
    }
    /// Wakes up to `n` waiters, in FIFO order; each re-acquires the lock before its `wait()`
    /// returns. The caller must hold the lock.
    ///
    /// Completes when: at once; the notified waiters queue for the lock and resume once they
    /// hold it, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `InvalidStateError` if the lock is not held (nobody is notified).
    /// Thread safety: loop thread only.
    void notify(std::size_t n = 1);
    /// `notify(waiters())`: wakes every waiter.
    ///
    /// Completes when: at once, as `notify()`.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `InvalidStateError` if the lock is not held (nobody is notified).
    /// Thread safety: loop thread only.
    void notify_all() { notify(waiters_.size()); }
    /// How many tasks wait for a notification (not those notified and waiting for the lock).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

private:
    friend class detail::ConditionWaitAwaiter;
    /// Moves the first waiter to the lock's queue (no lock check: also used to pass on a
    /// notification from a cancelled waiter). False if nobody waits.
    bool notify_one() noexcept;

    Lock own_lock_;
    Lock* lock_;
    detail::WaitList waiters_;  // waits not notified yet
    detail::IntrusiveList<detail::ConditionWaitAwaiter, detail::ConditionWaitTag> waits_;  // all
};

}  // namespace uvtask
