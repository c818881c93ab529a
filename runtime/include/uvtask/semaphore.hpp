// uvtask — Semaphore and BoundedSemaphore: fair counting semaphores for tasks (asyncio).
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/wait_list.hpp"

namespace uvtask {

class Semaphore;

namespace detail {

class SemaphoreAwaiter : public SuspensionPoint, public WaitNode {
public:
    explicit SemaphoreAwaiter(Semaphore* semaphore) noexcept : semaphore_(semaphore) {}
    ~SemaphoreAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();

protected:
    Semaphore* semaphore_;

private:
    friend class uvtask::Semaphore;
    static void on_cancel_hook(Suspension* self) noexcept;
    bool handed_ = false;  // a permit was handed over by release() while we waited
};

class ScopedSemaphoreAwaiter;

}  // namespace detail

/// Owns one permit of a `Semaphore` and releases it when destroyed (or by `release()`). Movable.
class [[nodiscard]] SemaphoreGuard {
public:
    SemaphoreGuard() noexcept = default;
    explicit SemaphoreGuard(Semaphore& semaphore) noexcept : semaphore_(&semaphore) {}
    SemaphoreGuard(SemaphoreGuard&& other) noexcept
        : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
    SemaphoreGuard& operator=(SemaphoreGuard&& other) noexcept {
        if (this != &other) {
            release();
            semaphore_ = std::exchange(other.semaphore_, nullptr);
        }
        return *this;
    }
    SemaphoreGuard(const SemaphoreGuard&) = delete;
    SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;
    ~SemaphoreGuard() { release(); }

    /// Releases the permit now (idempotent).
    void release() noexcept;
    /// True while the guard holds its permit.
    [[nodiscard]] bool owns_permit() const noexcept { return semaphore_ != nullptr; }

private:
    Semaphore* semaphore_ = nullptr;
};

/// A counting semaphore for tasks of one loop (asyncio.Semaphore): `acquire()` takes one of
/// `value()` permits, waiting while there is none; `release()` gives one back. Loop thread only;
/// not copyable or movable.
///
/// **Fair**: waiters get permits in the order they asked. `release()` with waiters hands the
/// permit directly to the first one, so a task calling `acquire()` meanwhile cannot barge ahead.
///
/// **Cancel-safe, permits conserved**: a waiter cancelled while waiting is unlinked and gets
/// `CancelledError`. A waiter a permit was handed to, but that is cancelled in the same loop tick
/// before it runs, gives the permit back (to the next waiter, in order) and gets `CancelledError`:
/// acquiring is undone, so cancellation wins and no permit is ever lost.
///
/// Destroying a Semaphore that tasks still wait on wakes them with `InvalidStateError`.
class Semaphore {
public:
    /// A semaphore with `value` permits. `std::invalid_argument` if `value` is negative.
    explicit Semaphore(std::int64_t value);
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;
    ~Semaphore();

    /// Takes a permit, waiting in FIFO order while there is none. Completes when this task holds
    /// a permit. A suspension point: a pending cancel is thrown at once, without taking one.
    /// Throws `CancelledError` (no permit taken), `InvalidStateError` outside a task or if the
    /// Semaphore is destroyed meanwhile. Pair with `release()`, or prefer `scoped()`.
    [[nodiscard]] detail::SemaphoreAwaiter acquire() noexcept {
        return detail::SemaphoreAwaiter{this};
    }
    /// `acquire()`, returning a `SemaphoreGuard` that releases the permit when destroyed.
    [[nodiscard]] detail::ScopedSemaphoreAwaiter scoped() noexcept;
    /// Takes a permit if one is free and nobody waits; never suspends.
    [[nodiscard]] bool try_acquire() noexcept;
    /// Gives a permit back: to the first waiter (which resumes later, from the ready queue) or to
    /// the pool. Not a suspension point. A `BoundedSemaphore` throws `InvalidStateError` when this
    /// would raise its value above the initial one.
    void release();
    /// Free permits.
    [[nodiscard]] std::int64_t value() const noexcept { return value_; }
    /// True when `acquire()` would wait.
    [[nodiscard]] bool locked() const noexcept { return value_ == 0 || !waiters_.empty(); }
    /// How many tasks wait for a permit.
    [[nodiscard]] std::size_t waiters() const noexcept { return waiters_.size(); }

protected:
    Semaphore(std::int64_t value, std::int64_t bound);

private:
    friend class detail::SemaphoreAwaiter;
    friend class SemaphoreGuard;
    void give_back() noexcept;  // release() without the bound check

    detail::WaitList waiters_;
    std::int64_t value_;
    std::int64_t bound_;  // INT64_MAX: unbounded
};

/// A `Semaphore` whose `release()` throws `InvalidStateError` if it would raise the value above
/// the initial one — a release without an acquire is a bug it catches (asyncio).
class BoundedSemaphore : public Semaphore {
public:
    /// `std::invalid_argument` if `value` is negative.
    explicit BoundedSemaphore(std::int64_t value) : Semaphore(value, value) {}
};

namespace detail {

class ScopedSemaphoreAwaiter : public SemaphoreAwaiter {
public:
    using SemaphoreAwaiter::SemaphoreAwaiter;
    SemaphoreGuard await_resume() {
        SemaphoreAwaiter::await_resume();
        return SemaphoreGuard{*semaphore_};
    }
};

}  // namespace detail

inline detail::ScopedSemaphoreAwaiter Semaphore::scoped() noexcept {
    return detail::ScopedSemaphoreAwaiter{this};
}

inline void SemaphoreGuard::release() noexcept {
    if (semaphore_ != nullptr) {
        std::exchange(semaphore_, nullptr)->give_back();
    }
}

}  // namespace uvtask
