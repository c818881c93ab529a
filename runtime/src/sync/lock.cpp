// Lock: a flag, a FIFO of waiters, and direct hand-off on unlock.
#include "uvtask/lock.hpp"

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

namespace {

constexpr WaitTexts lock_texts{"Lock::lock()",
                               "Lock::lock(): the Lock was destroyed while a task waited on it"};

constexpr WaitInfo lock_wait{"Lock::lock()", &WaitAwaiter::describe_place};

}  // namespace

bool LockAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (lock_->try_lock()) {
        return complete_now();
    }
    return wait_in(lock_->waiters_, resume_at, lock_wait);
}

bool LockAwaiter::cancel_to_deliver() noexcept {
    if (status_ == Status::cancelled) {
        return true;
    }
    if (status_ == Status::completed && cancelled_after_hand_off()) [[unlikely]] {
        // Handed the lock, then cancelled before we ran: undo the acquisition (pass the lock on)
        // and let the cancel win — nothing is lost and the FIFO order is kept.
        lock_->release();
        status_ = Status::cancelled;
        return true;
    }
    return false;
}

void LockAwaiter::await_resume() {
    if (cancel_to_deliver()) [[unlikely]] {
        throw task_->take_cancel();
    }
    end_of_wait(lock_texts);
}

}  // namespace detail

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
    if (!waiters_.grant_first()) {  // handed over: it stays locked, owned by the waiter
        locked_ = false;
    }
}

}  // namespace uvtask
