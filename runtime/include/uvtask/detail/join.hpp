// uvtask internals — the one join awaiter: wait for a spawned task to end.
#pragma once

#include <coroutine>
#include <cstdint>

#include "uvtask/errors.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/spawned_task.hpp"
#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

/// What a cancel of the waiting task does to a join.
enum class JoinMode : std::uint8_t {
    /// `co_await handle`: the cancel is passed on to the awaited task (docs/semantics.md §3.6)
    /// and the waiter goes on waiting for its end. A cancel pending when the wait starts is
    /// thrown at once, before waiting.
    propagate,
    /// `co_await shield(handle)`: the waiter stops waiting and gets `CancelledError`; the
    /// awaited task runs on.
    shield,
    /// `wait_for`'s join of the task it spawned: like `propagate`, but a cancel pending when the
    /// wait starts is passed on too (never thrown before the awaited task ended: no orphans),
    /// and when the awaited task ended cancelled because of it, the waiter throws its own fresh
    /// `CancelledError` (its latest request: who asked *it*).
    owned,
};

/// A task waiting for `target` to end, in one of the three modes. Passing a cancel on walks the
/// chain of propagating joins iteratively (`TaskState::cancel_join_chain`): a chain of 10⁴ tasks
/// each awaiting the next is cancelled without 10⁴ nested calls. Tasks awaiting each other in a
/// cycle wait forever, like any deadlock, but a cancel of one of them ends them all: the request
/// passes round the cycle once, then the join it came back to stops waiting (as if shielded).
/// Holds a reference to the target: the handle it came from may be dropped meanwhile.
template <class T, JoinMode Mode>
class JoinAwaiter : public SuspensionPoint, private JoinWaiter {
public:
    explicit JoinAwaiter(SpawnedTask<T>* target) noexcept : target_(target) {
        if (target_ != nullptr) {
            target_->add_ref();
        }
    }
    ~JoinAwaiter() {
        if (JoinWaiter::linked()) {
            target_->remove_waiter(this);
        }
        if (target_ != nullptr) {
            target_->release();
        }
    }
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if constexpr (Mode == JoinMode::owned) {
            task_ = current_task();  // a pending cancel is passed on below, not thrown
            if (task_ == nullptr) {
                status_ = Status::outside_task;
                return false;
            }
        } else if (!begin()) {
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
        if constexpr (Mode != JoinMode::shield) {
            forwards_to = target_;
        }
        target_->add_waiter(this);
        park(resume_at, &on_cancel_hook);
        if constexpr (Mode == JoinMode::owned) {
            if (task_->cancel_deliverable()) {
                on_cancel_hook(this);
            }
        }
        return true;
    }
    T await_resume() {
        if (status_ == Status::misuse) [[unlikely]] {
            throw_misuse();
        }
        finish(Mode == JoinMode::shield ? "shield()" : "co_await TaskHandle");
        if (propagated && target_->ending() == Ending::cancelled && task_->cancel_requested()) {
            // The awaited task ended cancelled because we passed our request on: that is the
            // request's delivery.
            if constexpr (Mode == JoinMode::owned) {
                target_->mark_retrieved();
                throw task_->take_cancel();
            } else {
                (void)task_->take_cancel();  // the awaited task's CancelledError is thrown below
            }
        }
        return target_->join_result();
    }

private:
    [[noreturn]] void throw_misuse() const {
        if (target_ == nullptr) {
            throw InvalidStateError("co_await on an empty TaskHandle");
        }
        throw_join_misuse(*target_, target_ == task_);
    }
    static void on_target_done(JoinWaiter* waiter) noexcept {
        static_cast<JoinAwaiter*>(waiter)->wake(Status::completed);
    }
    static void on_cancel_hook(Suspension* suspension) noexcept {
        auto* self = static_cast<JoinAwaiter*>(suspension);
        if (Mode == JoinMode::shield || self->forwarding) {
            // Shielded — or the request came back round a cycle of joins (A awaits B awaits …
            // awaits A): passing it on again would never end, so stop waiting, as if shielded.
            self->target_->remove_waiter(self);
            self->wake(Status::cancelled);
            return;
        }
        self->task_->cancel_join_chain(*self);
    }

    SpawnedTask<T>* target_;
};

}  // namespace uvtask::detail
