// uvtask internals — a scope that cancels the task it runs in and withdraws that request when its
// work ends (a deadline expiring, a task group whose child failed).
#pragma once

#include <string>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

/// The one owner of "cancel the task this scope runs in, then withdraw that request" — the
/// `uncancel()` bookkeeping of asyncio's `timeout()` and `TaskGroup`. Withdrawing is one step
/// under the task's lock (`TaskState::withdraw_scoped`), so a `cancel()` from another thread
/// arriving at the same moment is never taken for the scope's own: a `cancel()` that returned
/// true is always delivered, or withdrawn by the user's own `uncancel()`. Loop thread only.
class CancelScope {
public:
    CancelScope() noexcept = default;
    CancelScope(const CancelScope&) = delete;
    CancelScope& operator=(const CancelScope&) = delete;

    /// What the end of the scope's work found.
    struct Exit {
        /// A request other than the scope's is outstanding (counted in `cancelling()` and not
        /// handled before the scope started): a `CancelledError` out of the work is theirs, and
        /// propagates.
        bool others = false;
        /// Such a request arrived after the scope's and still waits for delivery.
        bool newer_pending = false;
    };

    /// The scope's work starts in `task`: requests outstanding now are not the scope's concern.
    void enter(TaskState& task) noexcept {
        task_ = &task;
        handled_at_entry_ = task.handled_cancelling();
    }
    [[nodiscard]] TaskState* task() const noexcept { return task_; }
    /// The scope cancels its task (once; later calls do nothing). A request already waiting for
    /// delivery keeps its message and kind (the work then sees who else asked).
    void cancel(std::string message, CancelKind kind) noexcept {
        if (requested_) {
            return;
        }
        requested_ = true;
        request_ = task_->request_cancel_scoped(std::move(message), kind);
    }
    /// True once the scope cancelled its task.
    [[nodiscard]] bool requested() const noexcept { return requested_; }
    /// The scope's work ended: withdraws the scope's request (if it made one; at most once).
    [[nodiscard]] Exit leave() noexcept {
        Exit exit;
        if (!requested_ || left_) {
            return exit;
        }
        left_ = true;
        const Withdrawal withdrawal = task_->withdraw_scoped(request_);
        exit.others = withdrawal.remaining > handled_at_entry_;
        exit.newer_pending = withdrawal.newer && task_->cancel_deliverable();
        return exit;
    }

private:
    TaskState* task_ = nullptr;
    ScopedRequest request_;
    int handled_at_entry_ = 0;
    bool requested_ = false;
    bool left_ = false;
};

}  // namespace uvtask::detail
