// Joins of a spawned task: its joiners (tasks of its own loop or of another), and a cancel passed
// along a chain of joins (docs/semantics.md §3.6).
#include <mutex>
#include <string>
#include <utility>

#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

namespace {
using Guard = std::lock_guard<SpinLock>;
}  // namespace

void TaskState::forward_cancel_to(TaskState& target) noexcept {
    std::string message;
    CancelKind kind;
    {
        Guard guard(lock_);
        try {
            message = extras_ ? extras_->message : std::string();
        } catch (...) {
            // Out of memory copying the message: pass the request on without it.
        }
        kind = kind_;
    }
    (void)target.request_cancel(std::move(message), kind);
}

void TaskState::cancel_join_chain(Suspension& first) noexcept {
    std::string message;
    CancelKind kind;
    // A request that has crossed loops carries the task it started at: the walk, which sees only
    // this loop's joins, tells a cycle through other loops by coming back to that task.
    std::uint64_t origin;
    bool crossed;
    {
        Guard guard(lock_);
        try {
            message = extras_ ? extras_->message : std::string();
        } catch (...) {
            // Out of memory copying the message: pass the request on without it.
        }
        kind = kind_;
        crossed = cancel_origin_ != 0;
        origin = crossed ? cancel_origin_ : global_id();
    }
    // Walk: each join passes the request to the task it waits for; if that task waits in a
    // propagating join too, continue there, else deliver to it (its own hook) and stop.
    Suspension* join = &first;
    join->forwarding = true;
    for (;;) {
        join->propagated = true;
        TaskState* target = join->forwards_to;
        std::string copy;
        try {
            copy = message;
        } catch (...) {
        }
        const bool remote = !target->on_loop_thread();
        if ((remote || crossed) && target->global_id() == origin) {
            // Back at the task the request started at, through another loop: a cycle of joins
            // across loops. This join stops waiting (`forwarding` is set: its hook does), or
            // the request would go round for ever.
            join->on_cancel(join);
            break;
        }
        if (remote) {
            // A task of another loop (or of a loop that has ended: then it is done, and the
            // request changes nothing). Its loop delivers the request and walks on from there.
            (void)target->request_cancel(std::move(copy), kind, false, origin);
            break;
        }
        if (!target->record_request(copy, kind, false, nullptr, crossed ? origin : 0)) {
            break;  // done already: nothing to pass on
        }
        target->run_cancel_callbacks();
        Suspension* next = target->cancel_deliverable() ? target->suspended_in_ : nullptr;
        if (next == nullptr) {
            break;  // running, or holding cancellation: it sees the request at its next point
        }
        if (next->forwards_to == nullptr || next->forwarding) {
            // The end of the chain — or a join already on this walk: a cycle, which its hook
            // recognises by `forwarding` (it stops waiting, or the cycle could never end).
            next->on_cancel(next);
            break;
        }
        next->forwarding = true;
        join->walk_next = next;
        join = next;
    }
    // Clear the walk's marks (the joins are all alive: delivering only schedules tasks).
    for (Suspension* s = &first; s != nullptr;) {
        s->forwarding = false;
        s = std::exchange(s->walk_next, nullptr);
    }
}

// The joiners are linked, unlinked and taken under `lock_`: a joiner on another loop links and
// unlinks itself from its own thread. `done_` changes under the same lock, so a joiner either
// sees the task done or is linked before the end takes the list.

bool TaskState::add_waiter(JoinWaiter* waiter) noexcept {
    Guard guard(lock_);
    if (done_.load(std::memory_order_relaxed)) {  // relaxed: written under this lock
        return false;
    }
    waiters_.push_back(waiter);
    return true;
}

const JoinWaiter* TaskState::scope_watch() const noexcept {
    Guard guard(lock_);  // a join from another loop may link itself meanwhile
    const JoinWaiter* found = nullptr;
    waiters_.for_each([&found](const JoinWaiter* waiter) {
        if (found == nullptr && waiter->scope_kind != nullptr) {
            found = waiter;
        }
    });
    return found;
}

void TaskState::remove_waiter(JoinWaiter* waiter) noexcept {
    Guard guard(lock_);
    if (waiter->linked()) {
        waiters_.remove(waiter);
    }
}

void TaskState::wake_waiters(bool local_ones) noexcept {
    for (;;) {
        JoinWaiter* waiter;
        TaskHost* remote_host = nullptr;  // the joiner's loop, for a joiner on another loop
        void* remote_wake = nullptr;
        {
            Guard guard(lock_);
            waiter = waiters_.pop_front();
            if (waiter == nullptr) {
                return;
            }
            if (waiter->remote_task != nullptr) {
                // Under the lock: once unlinked, the joiner's thread may destroy the waiter (its
                // frame), and its loop may end, as soon as it sees us unlinked. Queueing only
                // links the joining task (never allocates).
                TaskState& joiner = *waiter->remote_task;
                remote_host = joiner.host_;
                remote_wake = remote_host->enqueue_remote_join_end(joiner);
            }
        }
        if (remote_host != nullptr) {
            // Outside the lock (as for a remote cancel): waking a thread is slow, and the woken
            // loop takes this lock to read the result. The waiter may be gone already; the
            // token is the joiner's inbox, which waits for this call before its loop tears
            // down (null: that loop is closing, and destroys the joiner).
            if (remote_wake != nullptr) {
                remote_host->send_remote_wake(remote_wake);
            }
        } else if (local_ones) {
            waiter->on_done(waiter);  // on this loop's thread: the waiter cannot go meanwhile
        }
    }
}

}  // namespace uvtask::detail
