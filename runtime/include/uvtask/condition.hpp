// uvtask — Condition: wait for a notification while holding a Lock (asyncio.Condition).
#pragma once

#include <concepts>
#include <coroutine>
#include <cstddef>

#include "uvtask/lock.hpp"
#include "uvtask/task.hpp"
#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/wait_list.hpp"

namespace uvtask {

class Condition;

namespace detail {

/// `co_await condition.wait()`: releases the lock, waits for a notification, re-acquires the lock
/// — all inside this one awaiter (its two nodes: one in the condition's queue, one in the lock's),
/// so a wait allocates nothing.
class ConditionWaitAwaiter : public SuspensionPoint {
public:
    explicit ConditionWaitAwaiter(Condition* condition) noexcept;
    ~ConditionWaitAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();

private:
    friend class uvtask::Condition;
    struct NotifyNode : WaitNode {
        ConditionWaitAwaiter* self = nullptr;
    };
    struct RelockNode : LockWaiter {
        ConditionWaitAwaiter* self = nullptr;
    };
    enum class Trouble : unsigned char { none, not_locked, condition_destroyed, lock_destroyed };

    /// Notified (or cancelled, or the condition destroyed): queue for the lock.
    void relock(CancelHook hook_meanwhile) noexcept;
    static void on_relocked(LockWaiter* node) noexcept;
    static void on_lock_destroyed(LockWaiter* node) noexcept;
    static void on_cancel_waiting_notify(Suspension* self) noexcept;
    static void on_cancel_waiting_lock(Suspension* self) noexcept;
    static void on_cancel_ignored(Suspension* self) noexcept;

    Condition* condition_;
    Lock* lock_;
    NotifyNode notify_node_;
    RelockNode relock_node_;
    bool notified_ = false;   // a notify() chose us
    bool cancelled_ = false;  // the cancel hook ran: throw once the lock is ours again
    Trouble trouble_ = Trouble::none;
};

}  // namespace detail

/// A condition variable for tasks (asyncio.Condition): a task holding the Lock calls `wait()`,
/// which releases the lock, waits for `notify()`, and re-acquires the lock before it returns —
/// also when it throws, so the caller's `LockGuard` is always right. Loop thread only; not
/// copyable or movable.
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
class Condition {
public:
    /// A condition with its own Lock.
    Condition() noexcept : lock_(&own_lock_) {}
    /// A condition using `lock`, which must outlive it.
    explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
    Condition(const Condition&) = delete;
    Condition& operator=(const Condition&) = delete;
    /// Waiters left are moved to the lock's queue and throw `InvalidStateError` once they hold it.
    ~Condition();

    /// The Lock `wait()` releases and re-acquires.
    [[nodiscard]] Lock& get_lock() noexcept { return *lock_; }
    /// `get_lock().scoped()`.
    [[nodiscard]] detail::ScopedLockAwaiter scoped() noexcept { return lock_->scoped(); }

    /// Releases the lock, waits until notified, re-acquires the lock. The caller must hold the
    /// lock. A suspension point: a pending cancel is thrown at once (the lock still held, never
    /// released). Throws `CancelledError` (with the lock held again), `InvalidStateError` if the
    /// lock is not held, outside a task, or if the Condition or Lock is destroyed meanwhile.
    [[nodiscard]] detail::ConditionWaitAwaiter wait() noexcept {
        return detail::ConditionWaitAwaiter{this};
    }
    /// Waits until `predicate()` is true, calling it with the lock held before each wait
    /// (asyncio's `Condition.wait_for`). Same errors as `wait()`. Allocates one coroutine frame.
    template <class Predicate>
        requires std::predicate<Predicate&>
    [[nodiscard]] Task<void> wait_for(Predicate predicate) {
        while (!predicate()) {
            co_await wait();
        }
    }
    /// Wakes up to `n` waiters, in FIFO order; each re-acquires the lock before `wait()` returns.
    /// The caller must hold the lock (`InvalidStateError` otherwise). Not a suspension point.
    void notify(std::size_t n = 1);
    /// Wakes every waiter.
    void notify_all() { notify(waiters_.size()); }
    /// How many tasks wait for a notification.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

private:
    friend class detail::ConditionWaitAwaiter;
    /// Moves the first waiter to the lock's queue (no lock check: also used to pass on a
    /// notification from a cancelled waiter). False if nobody waits.
    bool notify_one() noexcept;

    Lock own_lock_;
    Lock* lock_;
    detail::WaitList waiters_;
};

}  // namespace uvtask
