// Event: a flag and a FIFO of waiters.
#include "uvtask/event.hpp"

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {

EventWaitAwaiter::~EventWaitAwaiter() {
    if (linked()) {
        event_->waiters_.remove(this);
    }
}

bool EventWaitAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (event_->set_) {
        status_ = Status::completed;
        return false;
    }
    event_->waiters_.push_back(this);
    park(resume_at, &on_cancel_hook);
    return true;
}

void EventWaitAwaiter::await_resume() const {
    if (status_ == Status::misuse) {
        throw InvalidStateError("Event::wait(): the Event was destroyed while a task waited on it");
    }
    finish("Event::wait()");
}

void EventWaitAwaiter::on_cancel_hook(Suspension* self) noexcept {
    auto* waiter = static_cast<EventWaitAwaiter*>(self);
    waiter->event_->waiters_.remove(waiter);
    waiter->wake(Status::cancelled);
}

}  // namespace detail

Event::~Event() {
    while (detail::WaitNode* node = waiters_.pop_front()) {
        static_cast<detail::EventWaitAwaiter*>(node)->wake(detail::EventWaitAwaiter::Status::misuse);
    }
}

void Event::set() noexcept {
    set_ = true;
    while (detail::WaitNode* node = waiters_.pop_front()) {
        static_cast<detail::EventWaitAwaiter*>(node)->wake(detail::EventWaitAwaiter::Status::completed);
    }
}

}  // namespace uvtask
