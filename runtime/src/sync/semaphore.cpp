// Semaphore: a count, a FIFO of waiters, and direct hand-off on release.
#include "uvtask/semaphore.hpp"

#include <cstdint>
#include <stdexcept>

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

namespace {

constexpr WaitTexts semaphore_texts{
    "Semaphore::acquire()",
    "Semaphore::acquire(): the Semaphore was destroyed while a task waited on it"};

constexpr WaitInfo semaphore_wait{"Semaphore::acquire()", &WaitAwaiter::describe_place};

}  // namespace

bool SemaphoreAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (semaphore_->try_acquire()) {
        return complete_now();
    }
    return wait_in(semaphore_->waiters_, resume_at, semaphore_wait);
}

bool SemaphoreAwaiter::cancel_to_deliver() noexcept {
    if (status_ == Status::cancelled) {
        return true;
    }
    if (status_ == Status::completed && cancelled_after_hand_off()) [[unlikely]] {
        // Handed a permit, then cancelled before we ran: give it back (to the next waiter) and
        // let the cancel win — no permit is lost and the FIFO order is kept.
        semaphore_->give_back();
        status_ = Status::cancelled;
        return true;
    }
    return false;
}

void SemaphoreAwaiter::await_resume() {
    if (cancel_to_deliver()) [[unlikely]] {
        throw task_->take_cancel();
    }
    end_of_wait(semaphore_texts);
}

}  // namespace detail

Semaphore::Semaphore(std::int64_t value) : Semaphore(value, INT64_MAX) {}

Semaphore::Semaphore(std::int64_t value, std::int64_t bound) : value_(value), bound_(bound) {
    if (value < 0) {
        throw std::invalid_argument("Semaphore: the initial value is negative");
    }
}

bool Semaphore::try_acquire() noexcept {
    if (value_ == 0 || !waiters_.empty()) {
        return false;
    }
    --value_;
    return true;
}

void Semaphore::release() {
    if (waiters_.empty() && value_ >= bound_) {
        throw InvalidStateError("BoundedSemaphore::release(): released more often than acquired");
    }
    give_back();
}

void Semaphore::give_back() noexcept {
    if (!waiters_.grant_first()) {  // handed straight to the first waiter, or back to the pool
        ++value_;
    }
}

}  // namespace uvtask
