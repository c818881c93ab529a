// Lock: a flag, a FIFO of waiters, and direct hand-off on unlock.
#include "uvtask/lock.hpp"

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

LockAwaiter::~LockAwaiter() {
    if (linked()) {
        lock_->dequeue(this);
    }
}

bool LockAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (lock_->try_lock()) {
        status_ = Status::completed;
        return false;
    }
    granted = &on_granted;
    lock_destroyed = &on_lock_destroyed;
    lock_->enqueue(this);
    park(resume_at, &on_cancel_hook);
    return true;
}

void LockAwaiter::await_resume() {
    if (status_ == Status::completed) [[likely]] {
        if (handed_ && task_->cancel_deliverable()) [[unlikely]] {
            // Handed the lock, then cancelled before we ran: undo the acquisition (pass the lock
            // on) and let the cancel win — nothing is lost and the FIFO order is kept.
            lock_->release();
            throw task_->take_cancel();
        }
        return;
    }
    if (status_ == Status::misuse) {
        throw InvalidStateError("Lock::lock(): the Lock was destroyed while a task waited on it");
    }
    finish("Lock::lock()");
}

void LockAwaiter::on_granted(LockWaiter* self) noexcept {
    auto* waiter = static_cast<LockAwaiter*>(self);
    waiter->handed_ = true;
    waiter->wake(Status::completed);
}

void LockAwaiter::on_lock_destroyed(LockWaiter* self) noexcept {
    static_cast<LockAwaiter*>(self)->wake(Status::misuse);
}

void LockAwaiter::on_cancel_hook(Suspension* self) noexcept {
    auto* waiter = static_cast<LockAwaiter*>(self);
    waiter->lock_->dequeue(waiter);
    waiter->wake(Status::cancelled);
}

}  // namespace detail

Lock::~Lock() {
    while (detail::WaitNode* node = waiters_.pop_front()) {
        auto* waiter = static_cast<detail::LockWaiter*>(node);
        waiter->lock_destroyed(waiter);
    }
}

bool Lock::try_lock() noexcept {
    if (locked_) {
        return false;
    }
    locked_ = true;
    return true;
}

void Lock::unlock() {
    if (!locked_) {
        throw InvalidStateError("Lock::unlock(): the lock is not locked");
    }
    release();
}

void Lock::release() noexcept {
    if (detail::WaitNode* node = waiters_.pop_front()) {
        auto* waiter = static_cast<detail::LockWaiter*>(node);
        waiter->granted(waiter);  // stays locked: ownership passes to the waiter
        return;
    }
    locked_ = false;
}

}  // namespace uvtask
