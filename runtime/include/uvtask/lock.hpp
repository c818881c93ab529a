// uvtask — Lock: a fair mutual-exclusion lock for tasks (asyncio.Lock).
#pragma once

#include <coroutine>
#include <utility>

#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/wait_list.hpp"

namespace uvtask {

class Lock;
class Condition;

namespace detail {

/// A task queued for a Lock. `granted` runs when `unlock()` hands the lock to it (the lock stays
/// locked: ownership passes directly, so nobody can barge in ahead of the queue).
struct LockWaiter : WaitNode {
    using Hook = void (*)(LockWaiter*) noexcept;
    Hook granted = nullptr;
    Hook lock_destroyed = nullptr;  // the Lock is being destroyed with this waiter queued
};

class LockAwaiter : public SuspensionPoint, public LockWaiter {
public:
    explicit LockAwaiter(Lock* lock) noexcept : lock_(lock) {}
    ~LockAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();

protected:
    Lock* lock_;

private:
    friend class uvtask::Lock;
    static void on_granted(LockWaiter* self) noexcept;
    static void on_lock_destroyed(LockWaiter* self) noexcept;
    static void on_cancel_hook(Suspension* self) noexcept;
    bool handed_ = false;  // the lock was handed over by unlock() while we waited
};

class ScopedLockAwaiter;
class ConditionWaitAwaiter;

}  // namespace detail

/// Owns a locked `Lock` and unlocks it when destroyed (or by `unlock()`). Movable.
class [[nodiscard]] LockGuard {
public:
    LockGuard() noexcept = default;
    explicit LockGuard(Lock& lock) noexcept : lock_(&lock) {}
    LockGuard(LockGuard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
    LockGuard& operator=(LockGuard&& other) noexcept {
        if (this != &other) {
            unlock();
            lock_ = std::exchange(other.lock_, nullptr);
        }
        return *this;
    }
    LockGuard(const LockGuard&) = delete;
    LockGuard& operator=(const LockGuard&) = delete;
    ~LockGuard() { unlock(); }

    /// Unlocks now (idempotent).
    void unlock() noexcept;
    /// True while the guard owns its lock.
    [[nodiscard]] bool owns_lock() const noexcept { return lock_ != nullptr; }

private:
    Lock* lock_ = nullptr;
};

/// A mutual-exclusion lock for tasks of one loop (asyncio.Lock). Not reentrant and not owned by
/// a task: any task may `unlock()` it. Loop thread only; not copyable or movable.
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
/// Destroying a Lock that tasks still wait on wakes them with `InvalidStateError`.
class Lock {
public:
    Lock() noexcept = default;
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    ~Lock();

    /// Acquires the lock, waiting in FIFO order if it is locked. Completes when this task holds
    /// the lock. A suspension point: a pending cancel is thrown at once, without acquiring. Throws
    /// `CancelledError` (the lock not held), `InvalidStateError` outside a task or if the Lock is
    /// destroyed meanwhile. Pair with `unlock()`, or prefer `scoped()`.
    [[nodiscard]] detail::LockAwaiter lock() noexcept { return detail::LockAwaiter{this}; }
    /// `lock()`, returning a `LockGuard` that unlocks when destroyed: `auto guard = co_await
    /// lock.scoped();`. Same completion, cancellation and errors as `lock()`.
    [[nodiscard]] detail::ScopedLockAwaiter scoped() noexcept;
    /// Acquires the lock if it is free and nobody waits; never suspends.
    [[nodiscard]] bool try_lock() noexcept;
    /// Releases the lock: hands it to the first waiter (which resumes later, from the ready
    /// queue) or leaves it unlocked. Not a suspension point. `InvalidStateError` if not locked.
    void unlock();
    /// True while some task holds the lock (or it was handed to a waiter that has not run yet).
    [[nodiscard]] bool locked() const noexcept { return locked_; }
    /// How many tasks wait for the lock.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

private:
    friend class detail::LockAwaiter;
    friend class detail::ConditionWaitAwaiter;
    friend class LockGuard;
    friend class Condition;
    void release() noexcept;  // unlock() of a locked lock
    void enqueue(detail::LockWaiter* waiter) noexcept { waiters_.push_back(waiter); }
    void dequeue(detail::LockWaiter* waiter) noexcept { waiters_.remove(waiter); }

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
};

}  // namespace detail

inline detail::ScopedLockAwaiter Lock::scoped() noexcept { return detail::ScopedLockAwaiter{this}; }

inline void LockGuard::unlock() noexcept {
    if (lock_ != nullptr) {
        std::exchange(lock_, nullptr)->release();
    }
}

}  // namespace uvtask
