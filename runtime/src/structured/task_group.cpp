// TaskGroup: asyncio.TaskGroup's bookkeeping on top of ChildSet.
#include "uvtask/task_group.hpp"

#include <string>

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/suspension_point.hpp"

namespace uvtask {

namespace {

/// The message and kind of the CancelledError `error` holds.
CancelledError cancel_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError& cancel) {
        return cancel;
    } catch (...) {
        return CancelledError();
    }
}

}  // namespace

void TaskGroup::enter(const char* operation) {
    parent_ = detail::current_task();
    if (parent_ == nullptr) {
        detail::throw_outside_task(operation);
    }
    // A request still waiting for delivery is not handled yet (see Deadline::enter).
    cancelling_at_entry_ = parent_->cancelling() - (parent_->cancel_requested() ? 1 : 0);
    body_running_ = true;
}

void TaskGroup::check_can_spawn() const {
    if (ended_) {
        throw InvalidStateError("TaskGroup::spawn(): the task group has ended");
    }
    if (children_.cancelling_children()) {
        throw InvalidStateError("TaskGroup::spawn(): the task group is shutting down");
    }
}

void TaskGroup::adopt(detail::TaskState& child) {
    try {
        children_.add(child, 0);
    } catch (...) {
        // Cannot watch it (out of memory): do not leave it running unwatched.
        child.request_cancel("task group: out of memory", CancelKind::parent);
        throw;
    }
}

void TaskGroup::on_child_done(void* owner, detail::TaskState& child, std::size_t,
                              bool) noexcept {
    auto* self = static_cast<TaskGroup*>(owner);
    if (child.ending() != detail::Ending::failed) {
        return;  // returned, or ended cancelled: not a failure
    }
    try {
        self->errors_.push_back(child.take_exception());
    } catch (...) {
        child.mark_retrieved();  // out of memory: the failure cannot be kept
    }
    if (self->children_.cancelling_children()) {
        return;  // already shutting down
    }
    try {
        const std::string message = "task group: task '" + child.name() + "' failed";
        self->children_.cancel_children(message, CancelKind::parent);
        if (self->body_running_ && !self->parent_cancel_requested_) {
            // Interrupt the body too; withdrawn in body_ended().
            self->parent_cancel_requested_ = true;
            self->pending_at_ours_ = self->parent_->cancel_requested();
            self->cancelling_after_ours_ = self->parent_->cancelling() + 1;
            self->parent_->request_cancel(message, CancelKind::parent, true);
        }
    } catch (...) {
        self->children_.cancel_children({}, CancelKind::parent);
    }
}

void TaskGroup::body_ended(const std::exception_ptr& error, bool is_cancel) noexcept {
    body_running_ = false;
    propagate_cancel_ = error && is_cancel;
    if (parent_cancel_requested_) {
        const int before = parent_->cancelling();
        const int after = parent_->uncancel();
        const bool newer_request = before > cancelling_after_ours_;
        if (!pending_at_ours_ && !newer_request && parent_->cancel_requested()) {
            try {
                (void)parent_->take_cancel();  // ours, never delivered: withdraw it
            } catch (...) {
            }
        }
        if (after <= cancelling_at_entry_) {
            propagate_cancel_ = false;  // the CancelledError was ours alone
        }
    }
    if (error && !children_.cancelling_children()) {
        if (is_cancel) {
            children_.forward_cancel(*parent_);  // an outer cancel: pass it on
        } else {
            children_.cancel_children("task group: the body failed", CancelKind::parent);
        }
    }
}

void TaskGroup::conclude(const std::exception_ptr& error, bool is_cancel) {
    ended_ = true;
    if (error && !is_cancel) {
        errors_.push_back(error);
    }
    if (!errors_.empty()) {
        if (propagate_cancel_ && !parent_->cancel_requested()) {
            // The body consumed an outer cancel that we replace by the ExceptionGroup: keep it
            // pending (same count) so it reaches the next suspension point instead of vanishing.
            const CancelledError cancel = cancel_of(error);
            parent_->request_cancel(cancel.message(), cancel.kind());
            parent_->uncancel();
        }
        throw ExceptionGroup(std::move(errors_));
    }
    if (propagate_cancel_) {
        std::rethrow_exception(error);
    }
    if (children_.cancel_reached() && parent_->cancel_deliverable()) {
        throw parent_->take_cancel();  // the outer cancel reached the wait for the children
    }
}

}  // namespace uvtask
