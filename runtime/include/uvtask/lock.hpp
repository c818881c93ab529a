// uvtask — Lock: a fair mutual-exclusion lock for tasks (asyncio.Lock).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <cstddef>
#include <utility>

#include "uvtask/detail/wait_awaiter.hpp"

namespace uvtask {

class Lock;
class Condition;

namespace detail {

class LockAwaiter : public WaitAwaiter {
public:
    explicit LockAwaiter(Lock* lock) noexcept : lock_(lock) {}
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();
    Outcome<void> await_resume_outcome() noexcept { return wait_outcome<void>(*this); }
    /// Handed the lock, then cancelled before it ran: undoes the acquisition (the lock passes
    /// on) and lets the cancel win.
    [[nodiscard]] bool cancel_to_deliver() noexcept;

protected:
    Lock* lock_;
};

class ScopedLockAwaiter;
class ConditionWaitAwaiter;

}  // namespace detail

/// Owns a locked `Lock` and unlocks it when destroyed (or by `unlock()`). Movable, not copyable.
/// Thread safety: loop thread only, like the Lock.
class [[nodiscard]] LockGuard {
public:
    /// A guard that owns nothing.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread.
    LockGuard() noexcept = default;
    /// Adopts `lock`, which the caller holds (it is not locked here).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    explicit LockGuard(Lock& lock) noexcept : lock_(&lock) {}
    /// Takes over what `other` owns; `other` owns nothing after.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    LockGuard(LockGuard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
    /// Unlocks what this guard owns, then takes over what `other` owns.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    LockGuard& operator=(LockGuard&& other) noexcept {
        if (this != &other) {
            unlock();
            lock_ = std::exchange(other.lock_, nullptr);
        }
        return *this;
    }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    /// `unlock()`.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~LockGuard() { unlock(); }

    /// Unlocks now, if the guard owns its lock (idempotent): like `Lock::unlock()`.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    void unlock() noexcept;
    /// True while the guard owns its lock.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool owns_lock() const noexcept { return lock_ != nullptr; }

private:
    Lock* lock_ = nullptr;
};

/// A mutual-exclusion lock for tasks of one loop (asyncio.Lock). Not reentrant and not owned by
/// a task: any task may `unlock()` it. Not copyable or movable.
///
/// **Fair**: waiters get the lock in the order they asked for it. `unlock()` with waiters hands
/// the lock directly to the first one (it stays locked), so a task calling `lock()` meanwhile
/// cannot barge ahead.
///
/// **Cancel-safe**: a waiter cancelled while waiting is unlinked and gets `CancelledError`; the
/// queue order of the others is unchanged. A waiter the lock was handed to, but that is cancelled
/// in the same loop tick before it runs, does not keep the lock: the lock is passed on to the
/// next waiter (or unlocked) and the waiter gets `CancelledError` — acquiring is undone, so
/// cancellation wins (asyncio does the same). Nothing is leaked either way.
///
/// Thread safety: loop thread only, like every member.
class Lock {
public:
    /// An unlocked Lock.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread; then used on one loop's thread only.
    Lock() noexcept = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    /// Destroys the Lock; tasks still waiting for it are woken and their `lock()` throws
    /// `InvalidStateError` (a Condition's waiter re-acquiring it too).
    ///
    /// Completes when: at once; the waiters resume later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~Lock() = default;

    /// Acquires the lock, waiting in FIFO order if it is locked: `co_await lock.lock();` … then
    /// `unlock()`, or prefer `scoped()`.
    ///
    /// Completes when: this task holds the lock — at once if it is free and nobody waits, else
    /// when an `unlock()` hands it over.
    /// Suspension point: yes — a pending cancel is thrown at once, without acquiring.
    /// On cancel: while waiting, the waiter is unlinked and `CancelledError` thrown (the lock not
    /// held). Handed the lock, then cancelled before it ran: the lock goes to the next waiter (or
    /// is unlocked) and `CancelledError` is thrown — the cancel wins.
    /// Throws: `CancelledError` (the lock not held); `InvalidStateError` outside a task, or if
    /// the Lock is destroyed while the task waits.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::LockAwaiter lock() noexcept { return detail::LockAwaiter{this}; }
    /// `lock()`, returning a `LockGuard` that unlocks when destroyed:
    /// `LockGuard guard = co_await lock.scoped();`.
    ///
    /// Completes when: as `lock()`.
    /// Suspension point: yes, as `lock()`.
    /// On cancel: as `lock()`; no guard is returned.
    /// Throws: as `lock()`.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::ScopedLockAwaiter scoped() noexcept;
    /// Acquires the lock if it is free (nobody waits then: an `unlock()` with waiters hands the
    /// lock over); never suspends. Returns whether it acquired.
    ///
    /// Completes when: at once.
    /// Suspension point: no — a pending cancel is not delivered here.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool try_lock() noexcept;
    /// Releases the lock: hands it to the first waiter (it stays locked) or leaves it unlocked.
    ///
    /// Completes when: at once; the waiter it was handed to resumes later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `InvalidStateError` if the lock is not locked.
    /// Thread safety: loop thread only.
    void unlock();
    /// True while some task holds the lock (or it was handed to a waiter that has not run yet).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool locked() const noexcept { return locked_; }
    /// How many tasks wait for the lock (a Condition's waiters re-acquiring it included).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

private:
    friend class detail::LockAwaiter;
    friend class detail::ConditionWaitAwaiter;
    friend class LockGuard;
    void release() noexcept;  // unlock() of a locked lock

    detail::WaitList waiters_;
    bool locked_ = false;
};

namespace detail {

class ScopedLockAwaiter : public LockAwaiter {
public:
    using LockAwaiter::LockAwaiter;
    LockGuard await_resume() {
        LockAwaiter::await_resume();
        return LockGuard{*lock_};
    }
    Outcome<LockGuard> await_resume_outcome() noexcept { return wait_outcome<LockGuard>(*this); }
};

}  // namespace detail

inline detail::ScopedLockAwaiter Lock::scoped() noexcept { return detail::ScopedLockAwaiter{this}; }

inline void LockGuard::unlock() noexcept {
    if (lock_ != nullptr) {
        std::exchange(lock_, nullptr)->release();
    }
}

}  // namespace uvtask
