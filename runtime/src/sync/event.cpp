// Event: a flag and a FIFO of waiters.
#include "uvtask/event.hpp"

namespace uvtask {

namespace detail {

namespace {

constexpr WaitTexts event_wait_texts{
    "Event::wait()", "Event::wait(): the Event was destroyed while a task waited on it"};

constexpr WaitInfo event_wait{"Event::wait()"};

}  // namespace

bool EventWaitAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (event_->set_) {
        return complete_now();
    }
    return wait_in(event_->waiters_, resume_at, event_wait);
}

void EventWaitAwaiter::await_resume() const {
    // Woken by set(), then cancelled before it ran: returns normally (the wait completed); the
    // cancel is delivered at the task's next suspension point.
    end_of_wait(event_wait_texts);
}

}  // namespace detail

void Event::set() noexcept {
    set_ = true;
    waiters_.grant_all();
}

}  // namespace uvtask
