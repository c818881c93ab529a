// JoinScope: gather()'s and race()'s rules for children ending.
#include "uvtask/detail/join_scope.hpp"

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/suspension_point.hpp"

namespace uvtask::detail {

JoinScope::JoinScope(Mode mode, const char* operation)
    : children_(&on_child_done, this, mode == Mode::gather ? "gather" : "race"),
      parent_(current_task()),
      operation_(operation),
      mode_(mode) {
    children_.set_owner_task(parent_);
    if (parent_ == nullptr) {
        throw_outside_task(operation);
    }
}

void JoinScope::watch(TaskState& child, std::size_t index) {
    if (!child.same_loop_as(*parent_)) {
        throw InvalidStateError(std::string(operation_) + ": task '" + child.name() +
                                "' belongs to another loop");
    }
    if (&child == parent_) {
        throw InvalidStateError(std::string(operation_) + ": task '" + child.name() +
                                "' would wait for itself");
    }
    if (child.done()) {
        // Already ended: judge it now, as if it ended at once.
        on_child_done(this, child, index, false);
        return;
    }
    children_.add(child, index);
}

void JoinScope::throw_empty_handle() const {
    throw InvalidStateError(std::string(operation_) + ": an empty TaskHandle");
}

void JoinScope::start_failed(std::exception_ptr error) noexcept {
    start_error_ = std::move(error);
    children_.cancel_children(std::string(operation_) + ": could not start every task",
                              CancelKind::parent);
}

void JoinScope::on_child_done(void* owner, TaskState& child, std::size_t index,
                              bool cancelled_by_scope) noexcept {
    auto* self = static_cast<JoinScope*>(owner);
    const Ending ending = child.ending();
    if (self->mode_ == Mode::race) {
        if (ending == Ending::cancelled) {
            self->last_cancelled_ = index;
            return;
        }
        if (self->winner_ == none) {
            self->winner_ = index;
            self->children_.cancel_children("race(): another task finished first",
                                            CancelKind::parent);
        }
        return;
    }
    if (ending == Ending::value || (ending == Ending::cancelled && cancelled_by_scope)) {
        return;
    }
    if (!self->first_failure_ && !self->children_.cancelling_children()) {
        self->first_failure_ = child.ending_exception();
        self->children_.cancel_children("gather(): another task failed", CancelKind::parent);
    }
    // A failure after the first stays unretrieved in its task: the runtime reports it when the
    // last handle to it goes ("Task exception was never retrieved"), it is not dropped silently.
}

JoinScope::Conclusion JoinScope::conclude(bool all_values) noexcept {
    if (start_error_) {
        return {none, Propagation::of_error(start_error_)};
    }
    if (mode_ == Mode::race) {
        if (winner_ != none) {
            return {winner_, std::nullopt};
        }
        if (parent_->cancel_deliverable()) {
            return {none, Propagation::of_cancel(parent_->take_cancel())};
        }
        return {last_cancelled_, std::nullopt};
    }
    if (first_failure_) {
        return {none, Propagation::of_error(first_failure_)};
    }
    if (!all_values && children_.cancel_reached() && parent_->cancel_deliverable()) {
        return {none, Propagation::of_cancel(parent_->take_cancel())};
    }
    return {none, std::nullopt};
}

}  // namespace uvtask::detail
