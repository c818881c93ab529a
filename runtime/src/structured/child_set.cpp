// ChildSet: join nodes on a scope's children, and the wait for all of them.
#include "uvtask/detail/child_set.hpp"

#include <iterator>
#include <string>
#include <utility>

namespace uvtask::detail {

namespace {
void describe_children(const Suspension& self, std::string& out) {
    out += " (";
    out += std::to_string(static_cast<const AllDoneAwaiter&>(self).children());
    out += " left)";
}
constexpr WaitInfo children_wait{"child tasks", &describe_children};
}  // namespace

AllDoneAwaiter::~AllDoneAwaiter() {
    if (set_->waiter_ == this) {
        set_->waiter_ = nullptr;
    }
}

bool AllDoneAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    task_ = current_task();
    if (task_ == nullptr) {
        status_ = Status::outside_task;
        return false;
    }
    if (set_->records_.empty()) {
        status_ = Status::completed;
        return false;
    }
    set_->waiter_ = this;
    park(resume_at, &on_cancel_hook, children_wait);
    if (task_->cancel_deliverable()) {
        on_cancel_hook(this);  // a cancel pending already: pass it on, then wait as well
    }
    return true;
}

std::size_t AllDoneAwaiter::children() const noexcept { return set_->live(); }

void AllDoneAwaiter::await_resume() const {
    if (status_ == Status::outside_task) {
        throw_outside_task("waiting for child tasks");
    }
}

void AllDoneAwaiter::on_cancel_hook(Suspension* self) noexcept {
    ChildSet* set = static_cast<AllDoneAwaiter*>(self)->set_;
    set->cancel_reached_ = true;
    set->forward_cancel(*static_cast<AllDoneAwaiter*>(self)->task_);
    // Not woken: the wait goes on until every child has ended; the request stays pending.
}

ChildSet::~ChildSet() {
    for (Record& record : records_) {
        record.child->remove_waiter(&record);
        record.child->release();
    }
}

void ChildSet::add(TaskState& child, std::size_t index) {
    Record& record = records_.emplace_back();
    record.self = std::prev(records_.end());
    record.set = this;
    record.child = &child;
    record.index = index;
    record.on_done = &on_child_done;
    record.scope_kind = kind_;
    record.scope_owner = owner_task_;
    child.add_ref();
    // Not done: the caller checked, on this loop's thread, where the child ends.
    (void)child.add_waiter(&record);
    if (cancelling_) {
        cancel_one(record);
    }
}

void ChildSet::cancel_one(Record& record) noexcept {
    if (record.cancelled) {
        return;
    }
    record.cancelled = true;
    try {
        if (forwarded_from_ != nullptr) {
            forwarded_from_->forward_cancel_to(*record.child);
        } else {
            record.child->request_cancel(cancel_message_, cancel_kind_);
        }
    } catch (...) {
        record.cancelled = false;  // out of memory copying the message
    }
}

void ChildSet::cancel_children(const std::string& message, CancelKind kind) noexcept {
    if (!cancelling_) {
        cancelling_ = true;
        try {
            cancel_message_ = message;
        } catch (...) {
        }
        cancel_kind_ = kind;
    }
    for (Record& record : records_) {
        cancel_one(record);
    }
}

void ChildSet::forward_cancel(TaskState& parent) noexcept {
    if (!cancelling_) {
        cancelling_ = true;
        forwarded_from_ = &parent;
    }
    for (Record& record : records_) {
        cancel_one(record);
    }
}

void ChildSet::on_child_done(JoinWaiter* waiter) noexcept {
    auto* record = static_cast<Record*>(waiter);
    ChildSet* set = record->set;
    TaskState* child = record->child;
    const std::size_t index = record->index;
    const bool cancelled_by_scope = record->cancelled;
    set->records_.erase(record->self);  // `record` is gone
    set->hook_(set->owner_, *child, index, cancelled_by_scope);
    child->release();  // the task's finish() still holds the loop's reference
    if (set->records_.empty() && set->waiter_ != nullptr) {
        AllDoneAwaiter* awaiter = std::exchange(set->waiter_, nullptr);
        awaiter->wake(AllDoneAwaiter::Status::completed);
    }
}

}  // namespace uvtask::detail
