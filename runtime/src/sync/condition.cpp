// Condition: two queues, one awaiter — wait morphing from the condition's queue to the lock's.
#include "uvtask/condition.hpp"

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

ConditionWaitAwaiter::ConditionWaitAwaiter(Condition* condition) noexcept
    : condition_(condition), lock_(condition->lock_) {
    notify_node_.self = this;
    relock_node_.self = this;
    relock_node_.granted = &on_relocked;
    relock_node_.lock_destroyed = &on_lock_destroyed;
}

ConditionWaitAwaiter::~ConditionWaitAwaiter() {
    if (notify_node_.linked()) {
        condition_->waiters_.remove(&notify_node_);
    }
    if (relock_node_.linked()) {
        lock_->dequeue(&relock_node_);
    }
}

bool ConditionWaitAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;  // a pending cancel: thrown with the lock still held
    }
    if (!lock_->locked()) {
        status_ = Status::misuse;
        trouble_ = Trouble::not_locked;
        return false;
    }
    lock_->release();  // hands the lock to its next waiter, if any
    condition_->waiters_.push_back(&notify_node_);
    park(resume_at, &on_cancel_waiting_notify);
    return true;
}

void ConditionWaitAwaiter::await_resume() {
    if (status_ != Status::completed) {
        if (status_ == Status::misuse) {
            throw InvalidStateError(trouble_ == Trouble::lock_destroyed
                                        ? "Condition::wait(): the Lock was destroyed while waiting"
                                        : "Condition::wait(): the lock is not held by the caller");
        }
        finish("Condition::wait()");  // cancelled at the start, or outside a task
        return;
    }
    // We hold the lock again.
    if (trouble_ == Trouble::condition_destroyed) {
        throw InvalidStateError("Condition::wait(): the Condition was destroyed while waiting");
    }
    if (cancelled_) {
        if (task_->cancel_requested()) {
            throw task_->take_cancel();
        }
        return;  // the request was withdrawn meanwhile: a spurious wake-up
    }
    if (task_->cancel_deliverable()) {
        // Notified and handed the lock, then cancelled before we ran: the cancel wins and the
        // notification goes to the next waiter, so it is not lost.
        condition_->notify_one();
        throw task_->take_cancel();
    }
}

void ConditionWaitAwaiter::relock(CancelHook hook_meanwhile) noexcept {
    if (lock_->try_lock()) {
        wake(Status::completed);
        return;
    }
    on_cancel = hook_meanwhile;  // still suspended; now in the lock's queue
    lock_->enqueue(&relock_node_);
}

void ConditionWaitAwaiter::on_relocked(LockWaiter* node) noexcept {
    static_cast<RelockNode*>(node)->self->wake(Status::completed);
}

void ConditionWaitAwaiter::on_lock_destroyed(LockWaiter* node) noexcept {
    ConditionWaitAwaiter* self = static_cast<RelockNode*>(node)->self;
    self->trouble_ = Trouble::lock_destroyed;
    self->wake(Status::misuse);
}

void ConditionWaitAwaiter::on_cancel_waiting_notify(Suspension* suspension) noexcept {
    auto* self = static_cast<ConditionWaitAwaiter*>(suspension);
    self->condition_->waiters_.remove(&self->notify_node_);
    self->cancelled_ = true;
    self->relock(&on_cancel_ignored);
}

void ConditionWaitAwaiter::on_cancel_waiting_lock(Suspension* suspension) noexcept {
    auto* self = static_cast<ConditionWaitAwaiter*>(suspension);
    // Notified, but cancelled while queued for the lock: pass the notification on, keep our place
    // in the lock's queue (the lock must be held when wait() throws).
    self->cancelled_ = true;
    self->on_cancel = &on_cancel_ignored;
    self->condition_->notify_one();
}

void ConditionWaitAwaiter::on_cancel_ignored(Suspension*) noexcept {}

}  // namespace detail

Condition::~Condition() {
    while (detail::WaitNode* node = waiters_.pop_front()) {
        auto* waiter = static_cast<detail::ConditionWaitAwaiter::NotifyNode*>(node)->self;
        waiter->trouble_ = detail::ConditionWaitAwaiter::Trouble::condition_destroyed;
        waiter->relock(&detail::ConditionWaitAwaiter::on_cancel_ignored);
    }
}

void Condition::notify(std::size_t n) {
    if (!lock_->locked()) {
        throw InvalidStateError("Condition::notify(): the lock is not held by the caller");
    }
    for (std::size_t i = 0; i < n && notify_one(); ++i) {
    }
}

bool Condition::notify_one() noexcept {
    detail::WaitNode* node = waiters_.pop_front();
    if (node == nullptr) {
        return false;
    }
    auto* waiter = static_cast<detail::ConditionWaitAwaiter::NotifyNode*>(node)->self;
    waiter->notified_ = true;
    waiter->relock(&detail::ConditionWaitAwaiter::on_cancel_waiting_lock);
    return true;
}

}  // namespace uvtask
