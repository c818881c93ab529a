// uvtask internals — the children of a structured scope (TaskGroup, gather, race) and the wait
// for all of them.
#pragma once

#include <coroutine>
#include <cstddef>
#include <list>
#include <string>

#include "uvtask/errors.hpp"
#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

class ChildSet;

/// `co_await children.wait_all()`: waits until every child has ended. A cancel of the waiting
/// task that reaches it (pending when the wait starts, or arriving meanwhile) is passed on to
/// every child not yet cancelled by the scope, and the wait goes on until they have all ended:
/// no child outlives its scope. The wait itself never throws `CancelledError` — the request stays
/// pending and `ChildSet::cancel_reached()` tells the scope, which decides what to throw.
/// Throws `InvalidStateError` outside a task.
class AllDoneAwaiter : public SuspensionPoint {
public:
    explicit AllDoneAwaiter(ChildSet* set) noexcept : set_(set) {}
    ~AllDoneAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume() const;
    /// How many children it still waits for.
    [[nodiscard]] std::size_t children() const noexcept;

private:
    friend class ChildSet;
    static void on_cancel_hook(Suspension* self) noexcept;
    ChildSet* set_;
};

/// The live children of a scope, each watched through a join node (no callback allocation).
/// Loop thread only.
class ChildSet {
public:
    /// Called when a child ends, before the wait is woken; `index` is the one given to `add`,
    /// `cancelled_by_scope` tells whether this set cancelled the child.
    using DoneHook = void (*)(void* owner, TaskState& child, std::size_t index,
                              bool cancelled_by_scope) noexcept;

    /// `kind` ("task group", "gather", "race") names the scope in `Loop::tasks()`.
    ChildSet(DoneHook hook, void* owner, const char* kind) noexcept
        : hook_(hook), owner_(owner), kind_(kind) {}
    /// The task the scope runs in (shown as the children's scope owner), once known.
    void set_owner_task(const TaskState* task) noexcept { owner_task_ = task; }
    ChildSet(const ChildSet&) = delete;
    ChildSet& operator=(const ChildSet&) = delete;
    /// Stops watching children still live (loop teardown destroying a suspended scope).
    ~ChildSet();

    /// Watches `child` (a live task), holding a reference to it; once the set cancels its
    /// children, a child added later is cancelled the same way at once. Throws `std::bad_alloc`.
    void add(TaskState& child, std::size_t index);
    /// Children not ended yet.
    [[nodiscard]] std::size_t live() const noexcept { return records_.size(); }
    /// Cancels every live child (once per child; later calls do nothing): `message` and `kind`.
    void cancel_children(const std::string& message, CancelKind kind) noexcept;
    /// Cancels every live child with `parent`'s current request (its message and kind).
    void forward_cancel(TaskState& parent) noexcept;
    /// True once the scope cancelled its children.
    [[nodiscard]] bool cancelling_children() const noexcept { return cancelling_; }
    /// True once a cancel of the waiting task reached `wait_all`.
    [[nodiscard]] bool cancel_reached() const noexcept { return cancel_reached_; }

    [[nodiscard]] AllDoneAwaiter wait_all() noexcept { return AllDoneAwaiter{this}; }

private:
    friend class AllDoneAwaiter;
    struct Record : JoinWaiter {
        ChildSet* set = nullptr;
        TaskState* child = nullptr;
        std::size_t index = 0;
        bool cancelled = false;
        std::list<Record>::iterator self;
    };
    static void on_child_done(JoinWaiter* waiter) noexcept;
    void cancel_one(Record& record) noexcept;

    std::list<Record> records_;
    DoneHook hook_;
    void* owner_;
    const char* kind_;                       // for Loop::tasks()
    const TaskState* owner_task_ = nullptr;  // for Loop::tasks()
    AllDoneAwaiter* waiter_ = nullptr;
    TaskState* forwarded_from_ = nullptr;  // forward_cancel()'s parent
    std::string cancel_message_;            // cancel_children()'s message and kind
    CancelKind cancel_kind_ = CancelKind::parent;
    bool cancelling_ = false;
    bool cancel_reached_ = false;
};

}  // namespace uvtask::detail
