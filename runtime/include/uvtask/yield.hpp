// uvtask — yield_now() and checkpoint(): let other tasks, timers and I/O run; see a cancel.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/suspension_point.hpp"

namespace uvtask {

namespace detail {

class YieldAwaiter : public SuspensionPoint {
public:
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if (!begin()) {
            return false;
        }
        park(resume_at, &on_cancel_while_queued, wait_info);
        loop().schedule(task_);
        return true;
    }
    void await_resume() const {
        if (status_ == Status::waiting) [[likely]] {
            task_->leave_suspension();
            return;
        }
        if (status_ == Status::cancelled && task_ != nullptr) {
            task_->leave_suspension();
        }
        finish("yield_now()");
    }
    Outcome<void> await_resume_outcome() noexcept {
        if (status_ == Status::waiting) [[likely]] {
            task_->leave_suspension();
            return {};
        }
        if (status_ == Status::cancelled && task_ != nullptr) {
            task_->leave_suspension();
        }
        return outcome_or<void>([this] { finish("yield_now()"); });
    }

    static constexpr WaitInfo wait_info{"yield_now()", nullptr, /*queued=*/true};

private:
    // Already in the ready queue: the error is thrown when it is resumed.
    static void on_cancel_while_queued(Suspension* self) noexcept {
        static_cast<YieldAwaiter*>(self)->status_ = Status::cancelled;
    }
};

class CheckpointAwaiter : public YieldAwaiter {
public:
    [[nodiscard]] bool await_ready() const noexcept {
#ifdef UVTASK_CHECKPOINT_ALWAYS_YIELDS
        return false;
#else
        TaskState* task = current_task();
        return task != nullptr && !task->cancel_deliverable() &&
               !LoopCore::of(*task).slice_expired();
#endif
    }
    void await_resume() const {
        if (status_ != Status::fresh) {
            YieldAwaiter::await_resume();
        }
    }
    Outcome<void> await_resume_outcome() noexcept {
        if (status_ == Status::fresh) [[likely]] {
            return {};
        }
        return YieldAwaiter::await_resume_outcome();
    }
};

}  // namespace detail

/// Suspends the current task and puts it behind every task that is ready now
/// (docs/semantics.md §3.8). Fairness: the loop runs ready tasks in batches of at most ~50 µs,
/// then lets libuv run due timers and poll I/O, so a task yielding in a loop delays timers and
/// I/O by at most about one batch.
///
/// Completes when: the task's turn in the ready queue comes.
/// Suspension point: yes, always.
/// On cancel: a pending cancel is thrown at once, without suspending; a cancel that arrives
/// while the task waits in the ready queue is thrown when it resumes.
/// Throws: `CancelledError`; `InvalidStateError` if awaited outside a uvtask task (calling
/// `yield_now()` itself throws nothing).
/// Thread safety: loop thread only (await it in a task).
[[nodiscard]] inline detail::YieldAwaiter yield_now() noexcept { return {}; }

/// The cheap suspension point for tight loops. Costs a few nanoseconds when nothing is
/// pending: the clock is read only every few calls, the stride adapting to the call rate.
/// Built with `-Dcheckpoint_always_yields=true`, every checkpoint really yields (a debug mode
/// that shakes out code relying on a checkpoint not switching tasks).
///
/// Completes when: at once, unless the task has run longer than its loop's time slice
/// (default 1 ms, `Loop::set_time_slice`) since it was last resumed — then it yields as
/// `yield_now()` and completes on the task's next turn.
/// Suspension point: yes (it throws a pending cancel even when it does not yield).
/// On cancel: a pending cancel is thrown at once; one arriving while it yields is thrown when
/// the task resumes.
/// Throws: `CancelledError`; `InvalidStateError` if awaited outside a uvtask task (calling
/// `checkpoint()` itself throws nothing).
/// Thread safety: loop thread only (await it in a task).
[[nodiscard]] inline detail::CheckpointAwaiter checkpoint() noexcept { return {}; }

}  // namespace uvtask
