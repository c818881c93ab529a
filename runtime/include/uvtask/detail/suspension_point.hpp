// uvtask internals — the common part of every cancellable awaiter.
#pragma once

#include <coroutine>
#include <cstdint>
#include <type_traits>

#include "uvtask/outcome.hpp"
#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

/// Base of every uvtask awaiter (docs/architecture.md): `begin()` at the start of `await_suspend`
/// checks for a current task and a pending cancel; `park()` records where the task sleeps and how
/// to cancel it; the libuv callback or the cancel hook calls `wake()`, which hands the task to the
/// ready queue; `await_resume` calls `finish()`, the only place a status becomes an exception.
class SuspensionPoint : public Suspension {
public:
    SuspensionPoint() noexcept = default;
    SuspensionPoint(const SuspensionPoint&) = delete;
    SuspensionPoint& operator=(const SuspensionPoint&) = delete;

protected:
    enum class Status : std::uint8_t {
        fresh,         // not awaited yet
        waiting,       // suspended, the operation is under way
        completed,     // the operation completed: deliver its result
        cancelled,     // the operation was stopped (or never started): throw CancelledError
        outside_task,  // awaited with no current task: throw InvalidStateError
        misuse,        // awaiter-specific misuse, reported by the awaiter itself
    };

    /// False when the awaiter must not suspend: no current task, or a deliverable cancel.
    [[nodiscard]] bool begin() noexcept {
        task_ = current_task();
        if (task_ == nullptr) [[unlikely]] {
            status_ = Status::outside_task;
            return false;
        }
        if (task_->cancel_deliverable()) [[unlikely]] {
            status_ = Status::cancelled;
            return false;
        }
        return true;
    }

    /// The task suspends here, waiting on what `info` names (`Loop::tasks()`, the slow-step
    /// report; a constant of the awaiter's kind); `hook` runs if it is cancelled meanwhile.
    void park(std::coroutine_handle<> resume_at, CancelHook hook, const WaitInfo& info) noexcept {
        on_cancel = hook;
        waits_on = &info;
        status_ = Status::waiting;
        task_->suspend_in(resume_at, this);
        // One relaxed bit test while off (`testing::cancel_at_every_point` turns it on).
        if (task_->host().trace_flags.on(TraceFlags::point_watch)) [[unlikely]] {
            loop().note_point(*task_, info);
        }
    }

    /// The operation ended (`completed` or `cancelled`): resume the task from the ready queue.
    void wake(Status status) noexcept {
        status_ = status;
        task_->leave_suspension();
        loop().schedule(task_);
    }

    /// The loop of the awaiting task (after `begin()` found one).
    [[nodiscard]] LoopCore& loop() const noexcept { return LoopCore::of(*task_); }

    /// In `await_resume`: throws what the status says; returns normally if `completed`.
    void finish(const char* operation) const {
        if (status_ == Status::cancelled) [[unlikely]] {
            throw task_->take_cancel();
        }
        if (status_ == Status::outside_task) [[unlikely]] {
            throw_outside_task(operation);
        }
    }

    /// In `await_resume_outcome` (the `nothrow()` form of `await_resume`, docs/zero-exception.md):
    /// a cancel that ended this await is returned as a value, consumed exactly as `finish`
    /// consumes it by throwing; otherwise the Outcome of `resume` (the awaiter's throwing
    /// resume path: its value, or the error it throws).
    template <class R, class F>
    [[nodiscard]] Outcome<R> outcome_or(F&& resume) noexcept {
        if (status_ == Status::cancelled) [[unlikely]] {
            return Outcome<R>::cancelled(task_->take_cancel());
        }
        return capture_outcome<R>(static_cast<F&&>(resume));
    }

    /// `await_resume_outcome` of an awaiter `Self` whose `await_resume` starts with `finish()`
    /// (nothing before it matters once the await was cancelled): `outcome_or` over it.
    template <class Self>
    [[nodiscard]] static auto resume_outcome(Self& self) noexcept {
        using R = std::remove_cvref_t<decltype(self.await_resume())>;
        return self.template outcome_or<R>([&self]() -> R { return self.await_resume(); });
    }

    TaskState* task_ = nullptr;
    Status status_ = Status::fresh;
};

}  // namespace uvtask::detail
