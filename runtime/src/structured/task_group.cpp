// TaskGroup: asyncio.TaskGroup's bookkeeping on top of ChildSet.
#include "uvtask/task_group.hpp"

#include <string>

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/suspension_point.hpp"

namespace uvtask {

void TaskGroup::enter(const char* operation) {
    parent_ = detail::current_task();
    children_.set_owner_task(parent_);
    if (parent_ == nullptr) {
        detail::throw_outside_task(operation);
    }
    scope_.enter(*parent_);
    deliveries_at_entry_ = parent_->deliveries();
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

void TaskGroup::on_child_done(void* owner, detail::TaskState& child, std::size_t, bool) noexcept {
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
    std::string message;
    try {
        message = "task group: task '" + child.name() + "' failed";
    } catch (...) {
        // Out of memory for the message: cancel without it.
    }
    self->children_.cancel_children(message, CancelKind::parent);
    if (self->body_running_) {
        self->scope_.cancel(std::move(message), CancelKind::parent);  // withdrawn in body_ended()
    }
}

void TaskGroup::body_ended(const detail::SettledEnding& body) noexcept {
    const bool is_cancel = body.is_cancel;
    body_running_ = false;
    propagate_cancel_ = body.failed() && is_cancel;
    if (scope_.requested() && !scope_.leave().others) {
        propagate_cancel_ = false;  // the CancelledError was ours alone
    }
    if (!body.failed() || children_.cancelling_children()) {
        return;
    }
    if (!is_cancel) {
        children_.cancel_children("task group: the body failed", CancelKind::parent);
    } else if (parent_->deliveries() != deliveries_at_entry_) {
        // An outer request reached the body: pass on who asked (the error's message and kind).
        try {
            const CancelledError cancel = body.cancellation();
            children_.cancel_children(cancel.message(), cancel.kind());
        } catch (...) {
            children_.cancel_children({}, CancelKind::parent);  // out of memory
        }
    } else {
        // Nobody asked this task: the body awaited something that was cancelled.
        children_.cancel_children("task group: the body ended with CancelledError",
                                  CancelKind::parent);
    }
}

std::optional<detail::Propagation> TaskGroup::conclude(const detail::SettledEnding& body) noexcept {
    ended_ = true;
    if (body.error && !body.is_cancel) {
        try {
            errors_.push_back(body.error);
        } catch (...) {
            return detail::Propagation::of_error(std::current_exception());  // out of memory
        }
    }
    if (!errors_.empty()) {
        // A request the body received was delivered there: it is not thrown again (one delivery
        // per request); one still pending stays pending, for the next suspension point.
        try {
            return detail::Propagation::of_error(
                std::make_exception_ptr(ExceptionGroup(std::move(errors_))));
        } catch (...) {
            return detail::Propagation::of_error(std::current_exception());  // out of memory
        }
    }
    if (propagate_cancel_) {
        return std::nullopt;  // the body's own cancellation, passed on by the caller
    }
    if (children_.cancel_reached() && parent_->cancel_deliverable()) {
        return detail::Propagation::of_cancel(parent_->take_cancel());  // the outer cancel reached the wait
    }
    return std::nullopt;  // a body that failed otherwise ends the group with its own ending
}

}  // namespace uvtask
