// Semaphore: a count, a FIFO of waiters, and direct hand-off on release.
#include "uvtask/semaphore.hpp"

#include <cstdint>
#include <stdexcept>

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

SemaphoreAwaiter::~SemaphoreAwaiter() {
    if (linked()) {
        semaphore_->waiters_.remove(this);
    }
}

bool SemaphoreAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (semaphore_->try_acquire()) {
        status_ = Status::completed;
        return false;
    }
    semaphore_->waiters_.push_back(this);
    park(resume_at, &on_cancel_hook);
    return true;
}

void SemaphoreAwaiter::await_resume() {
    if (status_ == Status::completed) [[likely]] {
        if (handed_ && task_->cancel_deliverable()) [[unlikely]] {
            // Handed a permit, then cancelled before we ran: give it back (to the next waiter)
            // and let the cancel win — no permit is lost and the FIFO order is kept.
            semaphore_->give_back();
            throw task_->take_cancel();
        }
        return;
    }
    if (status_ == Status::misuse) {
        throw InvalidStateError(
            "Semaphore::acquire(): the Semaphore was destroyed while a task waited on it");
    }
    finish("Semaphore::acquire()");
}

void SemaphoreAwaiter::on_cancel_hook(Suspension* self) noexcept {
    auto* waiter = static_cast<SemaphoreAwaiter*>(self);
    waiter->semaphore_->waiters_.remove(waiter);
    waiter->wake(Status::cancelled);
}

}  // namespace detail

Semaphore::Semaphore(std::int64_t value) : Semaphore(value, INT64_MAX) {}

Semaphore::Semaphore(std::int64_t value, std::int64_t bound) : value_(value), bound_(bound) {
    if (value < 0) {
        throw std::invalid_argument("Semaphore: the initial value is negative");
    }
}

Semaphore::~Semaphore() {
    while (detail::WaitNode* node = waiters_.pop_front()) {
        static_cast<detail::SemaphoreAwaiter*>(node)->wake(detail::SemaphoreAwaiter::Status::misuse);
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
    if (detail::WaitNode* node = waiters_.pop_front()) {
        auto* waiter = static_cast<detail::SemaphoreAwaiter*>(node);
        waiter->handed_ = true;
        waiter->wake(detail::SemaphoreAwaiter::Status::completed);
        return;
    }
    ++value_;
}

}  // namespace uvtask
