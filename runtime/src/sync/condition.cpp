// Condition: one waiter node, two queues — wait morphing from the condition's queue to the lock's.
#include "uvtask/condition.hpp"

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

namespace {

constexpr WaitTexts condition_texts{
    "Condition::wait()", "Condition::wait(): the Lock was destroyed while waiting", nullptr,
    "Condition::wait(): the lock is not held by the caller"};

constexpr WaitInfo condition_wait{"Condition::wait()", &WaitAwaiter::describe_place};
constexpr WaitInfo condition_relock{"Condition::wait() (taking the lock back)",
                                    &WaitAwaiter::describe_place};

}  // namespace

ConditionWaitAwaiter::ConditionWaitAwaiter(Condition* condition) noexcept
    : WaitAwaiter(&on_notified), condition_(condition), lock_(condition->lock_) {}

ConditionWaitAwaiter::~ConditionWaitAwaiter() {
    if (ListHook<ConditionWaitTag>::linked()) {
        condition_->waits_.remove(this);
    }
}

bool ConditionWaitAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;  // a pending cancel: thrown with the lock still held
    }
    if (!lock_->locked()) {
        return end_now(WaitEnd::misuse);
    }
    lock_->release();  // hands the lock to its next waiter, if any
    condition_->waits_.push_back(this);
    return wait_in(condition_->waiters_, resume_at, condition_wait, &on_cancel_waiting_notify);
}

bool ConditionWaitAwaiter::cancel_to_deliver() noexcept {
    if (status_ == Status::cancelled) {
        return true;  // cancelled at the start
    }
    if (status_ != Status::completed || condition_destroyed_) {
        return false;  // not locked, the Lock or the Condition destroyed…: await_resume says so
    }
    // We hold the lock again.
    if (cancelled_) {
        return task_->cancel_requested();  // withdrawn meanwhile: a spurious wake-up
    }
    if (cancelled_after_hand_off()) {
        // Notified and handed the lock, then cancelled before we ran: the cancel wins and the
        // notification goes to the next waiter, so it is not lost.
        pass_notification_on();
        status_ = Status::cancelled;
        return true;
    }
    return false;
}

void ConditionWaitAwaiter::await_resume() {
    if (cancel_to_deliver()) {
        throw task_->take_cancel();
    }
    end_of_wait(condition_texts);  // not locked, the Lock destroyed…
    if (condition_destroyed_) {
        throw InvalidStateError("Condition::wait(): the Condition was destroyed while waiting");
    }
}

void ConditionWaitAwaiter::relock(CancelHook hook_meanwhile) noexcept {
    if (lock_->try_lock()) {
        wake(Status::completed);
        return;
    }
    // Still suspended; now like any lock waiter.
    wait_next_in(lock_->waiters_, hook_meanwhile, condition_relock);
}

void ConditionWaitAwaiter::pass_notification_on() noexcept {
    if (condition_ != nullptr) {  // else the Condition is gone, and its other waiters with it
        condition_->notify_one();
    }
}

void ConditionWaitAwaiter::on_notified(WaitNode* node, WaitEnd why) noexcept {
    auto* self = static_cast<ConditionWaitAwaiter*>(node);
    if (why == WaitEnd::handed) {
        self->relock(&on_cancel_waiting_lock);
        return;
    }
    self->condition_destroyed_ = true;  // throw once the lock is ours again
    self->relock(&on_cancel_ignored);
}

void ConditionWaitAwaiter::on_cancel_waiting_notify(Suspension* suspension) noexcept {
    auto* self = static_cast<ConditionWaitAwaiter*>(suspension);
    self->leave();
    self->cancelled_ = true;  // throw once the lock is ours again
    self->relock(&on_cancel_ignored);
}

void ConditionWaitAwaiter::on_cancel_waiting_lock(Suspension* suspension) noexcept {
    auto* self = static_cast<ConditionWaitAwaiter*>(suspension);
    // Notified, but cancelled while queued for the lock: pass the notification on, keep our place
    // in the lock's queue (the lock must be held when wait() throws).
    self->cancelled_ = true;
    self->on_cancel = &on_cancel_ignored;
    self->pass_notification_on();
}

void ConditionWaitAwaiter::on_cancel_ignored(Suspension*) noexcept {}

}  // namespace detail

Condition::~Condition() {
    // Waits notified already (queued for the lock, or handed it) have nobody left to pass a
    // notification on to; the others are ended by `waiters_`: they queue for the lock and throw.
    while (detail::ConditionWaitAwaiter* wait = waits_.pop_front()) {
        wait->condition_ = nullptr;
    }
    waiters_.end_all(detail::WaitEnd::destroyed);
}

void Condition::notify(std::size_t n) {
    if (!lock_->locked()) {
        throw InvalidStateError("Condition::notify(): the lock is not held by the caller");
    }
    for (std::size_t i = 0; i < n && notify_one(); ++i) {
    }
}

bool Condition::notify_one() noexcept { return waiters_.grant_first(); }

}  // namespace uvtask
