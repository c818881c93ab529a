// uvtask — Semaphore and BoundedSemaphore: fair counting semaphores for tasks (asyncio).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "uvtask/detail/wait_awaiter.hpp"

namespace uvtask {

class Semaphore;

namespace detail {

class SemaphoreAwaiter : public WaitAwaiter {
public:
    explicit SemaphoreAwaiter(Semaphore* semaphore) noexcept : semaphore_(semaphore) {}
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();
    Outcome<void> await_resume_outcome() noexcept { return wait_outcome<void>(*this); }
    /// Handed a permit, then cancelled before it ran: gives it back (to the next waiter) and
    /// lets the cancel win.
    [[nodiscard]] bool cancel_to_deliver() noexcept;

protected:
    Semaphore* semaphore_;
};

class ScopedSemaphoreAwaiter;

}  // namespace detail

/// Owns one permit of a `Semaphore` and releases it when destroyed (or by `release()`). Movable,
/// not copyable. Thread safety: loop thread only, like the Semaphore.
class [[nodiscard]] SemaphoreGuard {
public:
    /// A guard that owns no permit.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread.
    SemaphoreGuard() noexcept = default;
    /// Adopts a permit of `semaphore` the caller holds (none is taken here).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    explicit SemaphoreGuard(Semaphore& semaphore) noexcept : semaphore_(&semaphore) {}
    /// Takes over the permit `other` owns; `other` owns none after.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    SemaphoreGuard(SemaphoreGuard&& other) noexcept
        : semaphore_(std::exchange(other.semaphore_, nullptr)) {}
    /// Releases the permit this guard owns, then takes over the one `other` owns.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    SemaphoreGuard& operator=(SemaphoreGuard&& other) noexcept {
        if (this != &other) {
            release();
            semaphore_ = std::exchange(other.semaphore_, nullptr);
        }
        return *this;
    }
    SemaphoreGuard(const SemaphoreGuard&) = delete;
    SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;
    /// `release()`.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~SemaphoreGuard() { release(); }

    /// Releases the permit now, if the guard owns one (idempotent): to the first waiter or to
    /// the pool, like `Semaphore::release()` (never checked against a `BoundedSemaphore`'s
    /// bound: the permit was acquired).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    void release() noexcept;
    /// True while the guard holds its permit.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool owns_permit() const noexcept { return semaphore_ != nullptr; }

private:
    Semaphore* semaphore_ = nullptr;
};

/// A counting semaphore for tasks of one loop (asyncio.Semaphore): `acquire()` takes one of
/// `value()` permits, waiting while there is none; `release()` gives one back. Not copyable or
/// movable.
///
/// **Fair**: waiters get permits in the order they asked. `release()` with waiters hands the
/// permit directly to the first one, so a task calling `acquire()` meanwhile cannot barge ahead.
///
/// **Cancel-safe, permits conserved**: a waiter cancelled while waiting is unlinked and gets
/// `CancelledError`. A waiter a permit was handed to, but that is cancelled in the same loop tick
/// before it runs, gives the permit back (to the next waiter, in order) and gets `CancelledError`:
/// acquiring is undone, so cancellation wins and no permit is ever lost.
///
/// Thread safety: loop thread only, like every member.
class Semaphore {
public:
    /// A semaphore with `value` permits.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `std::invalid_argument` if `value` is negative.
    /// Thread safety: any thread; then used on one loop's thread only.
    explicit Semaphore(std::int64_t value);
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;
    /// Destroys the Semaphore; tasks still waiting for a permit are woken and their `acquire()`
    /// throws `InvalidStateError`.
    ///
    /// Completes when: at once; the waiters resume later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~Semaphore() = default;

    /// Takes a permit, waiting in FIFO order while there is none: `co_await sem.acquire();` …
    /// then `release()`, or prefer `scoped()`.
    ///
    /// Completes when: this task holds a permit — at once if one is free and nobody waits, else
    /// when a `release()` hands one over.
    /// Suspension point: yes — a pending cancel is thrown at once, without taking a permit.
    /// On cancel: while waiting, the waiter is unlinked and `CancelledError` thrown (no permit
    /// taken). Handed a permit, then cancelled before it ran: the permit goes to the next waiter
    /// (or back to the pool) and `CancelledError` is thrown — the cancel wins.
    /// Throws: `CancelledError` (no permit taken); `InvalidStateError` outside a task, or if the
    /// Semaphore is destroyed while the task waits.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::SemaphoreAwaiter acquire() noexcept {
        return detail::SemaphoreAwaiter{this};
    }
    /// `acquire()`, returning a `SemaphoreGuard` that releases the permit when destroyed:
    /// `SemaphoreGuard permit = co_await sem.scoped();`.
    ///
    /// Completes when: as `acquire()`.
    /// Suspension point: yes, as `acquire()`.
    /// On cancel: as `acquire()`; no guard is returned.
    /// Throws: as `acquire()`.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::ScopedSemaphoreAwaiter scoped() noexcept;
    /// Takes a permit if one is free and nobody waits; never suspends. Returns whether it took
    /// one.
    ///
    /// Completes when: at once.
    /// Suspension point: no — a pending cancel is not delivered here.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool try_acquire() noexcept;
    /// Gives a permit back: to the first waiter or to the pool.
    ///
    /// Completes when: at once; the waiter it was handed to resumes later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `InvalidStateError` from a `BoundedSemaphore` when this would raise its value
    /// above the initial one (nothing changes).
    /// Thread safety: loop thread only.
    void release();
    /// Free permits.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::int64_t value() const noexcept { return value_; }
    /// True when `acquire()` would wait.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool locked() const noexcept { return value_ == 0 || !waiters_.empty(); }
    /// How many tasks wait for a permit.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
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
/// the initial one — a release without an acquire is a bug it catches (asyncio). Everything else
/// is the Semaphore's.
class BoundedSemaphore : public Semaphore {
public:
    /// A bounded semaphore with `value` permits, which is also its bound.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `std::invalid_argument` if `value` is negative.
    /// Thread safety: any thread; then used on one loop's thread only.
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
    Outcome<SemaphoreGuard> await_resume_outcome() noexcept {
        return wait_outcome<SemaphoreGuard>(*this);
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
