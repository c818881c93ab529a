// uvtask internals — wait for a task whose fate the waiter owns: a cancel is always passed on.
#pragma once

#include <coroutine>

#include "uvtask/task_handle.hpp"
#include "uvtask/detail/spawned_task.hpp"
#include "uvtask/detail/suspension_point.hpp"

namespace uvtask::detail {

/// Like `co_await handle` (a cancel of the waiter is passed on to the awaited task and the waiter
/// goes on waiting for its end), except that a cancel already pending when the wait starts is
/// passed on too instead of being thrown at once: the awaited task is never left running behind
/// the waiter (wait_for's "no orphans"). The waiter's request is consumed only if the awaited
/// task ended cancelled — the waiter then throws its own `CancelledError` (its latest request's
/// message and kind); if the awaited task refused and returned a value, the value is delivered
/// and the request stays pending (atomic completion).
template <class T>
class OwnedJoinAwaiter : public SuspensionPoint, private JoinWaiter {
public:
    explicit OwnedJoinAwaiter(SpawnedTask<T>* target) noexcept : target_(target) {}
    ~OwnedJoinAwaiter() {
        if (JoinWaiter::linked()) {
            target_->remove_waiter(this);
        }
    }
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        task_ = current_task();
        if (task_ == nullptr) {
            status_ = Status::outside_task;
            return false;
        }
        if (target_ == nullptr || !target_->same_loop_as(*task_) || target_ == task_) {
            status_ = Status::misuse;
            return false;
        }
        if (target_->done()) {
            status_ = Status::completed;
            return false;
        }
        JoinWaiter::on_done = &on_target_done;
        target_->add_waiter(this);
        park(resume_at, &on_cancel_hook);
        if (task_->cancel_deliverable()) {
            on_cancel_hook(this);
        }
        return true;
    }
    T await_resume() {
        if (status_ == Status::misuse) {
            if (target_ == nullptr) {
                throw InvalidStateError("co_await on an empty TaskHandle");
            }
            throw_join_misuse(*target_, target_ == task_);
        }
        finish("wait_for()");
        if (propagated_ && target_->ending() == Ending::cancelled && task_->cancel_requested()) {
            // The awaited task ended cancelled because we passed our cancel on: that is our
            // delivery. Throw our own request (its latest message and kind: who asked *us*),
            // fresh, rather than the awaited task's stored error.
            target_->mark_retrieved();
            throw task_->take_cancel();
        }
        return target_->join_result();
    }

private:
    static void on_target_done(JoinWaiter* waiter) noexcept {
        static_cast<OwnedJoinAwaiter*>(waiter)->wake(Status::completed);
    }
    static void on_cancel_hook(Suspension* suspension) noexcept {
        auto* self = static_cast<OwnedJoinAwaiter*>(suspension);
        self->propagated_ = true;
        try {
            self->task_->forward_cancel_to(*self->target_);
        } catch (...) {
            // out of memory copying the message: the awaited task is not told; we keep waiting
        }
    }

    SpawnedTask<T>* target_;
    bool propagated_ = false;
};

/// `co_await owned_join(handle)`.
template <class T>
[[nodiscard]] OwnedJoinAwaiter<T> owned_join(const TaskHandle<T>& handle) noexcept {
    return OwnedJoinAwaiter<T>{detail::state_of(handle)};
}

}  // namespace uvtask::detail
