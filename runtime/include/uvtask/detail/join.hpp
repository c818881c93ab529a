// uvtask internals — the one join awaiter: wait for a spawned task to end.
#pragma once

#include <coroutine>
#include <cstdint>
#include <string>

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
///
/// The target may belong to another loop (docs/semantics.md §3.6, "across loops"): the waiter is
/// then linked among the target's joiners from this thread (under the target's lock, atomically
/// with its end), and the target's end wakes it through this loop's remote inbox
/// (`TaskHost::enqueue_remote_join_end`), so the result is read and delivered on this loop's
/// thread. A cancel is passed on through the target's loop's inbox (`cancel_join_chain`).
/// While it waits, this loop is held alive (`LoopCore::hold_alive`): the wake-up comes from
/// another thread, so `run()` never takes the wait for a deadlock. A target whose loop has
/// ended is done (a task still pending then ended cancelled, kind `shutdown`): its ending is
/// read at once.
template <class T, JoinMode Mode>
class JoinAwaiter : public SuspensionPoint, private JoinWaiter {
public:
    explicit JoinAwaiter(SpawnedTask<T>* target) noexcept : target_(target) {
        if (target_ != nullptr) {
            target_->add_ref();
        }
    }
    ~JoinAwaiter() {
        if (status_ == Status::waiting) {
            // Destroyed while waiting (its task's frame at loop teardown): unlink, under the
            // target's lock (its end, on another thread, may be taking the joiners now).
            target_->remove_waiter(this);
            release_hold();
        }
        if (target_ != nullptr) {
            if (JoinWaiter::remote_task != nullptr) {
                target_->release_handle();
            } else {
                target_->release();
            }
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
        if (target_ == nullptr || target_ == task_) {
            status_ = Status::misuse;
            return false;
        }
        const bool remote = !target_->same_loop_as(*task_);
        JoinWaiter::on_done = &on_target_done;
        if (remote) {
            JoinWaiter::remote_task = task_;
            on_remote_end = &on_remote_end_hook;
            // The awaiter's reference counts as a handle while it waits: the target's loop
            // then knows that another thread may still cancel the task (run()'s deadlock rule).
            target_->add_handle_ref();
            target_->release();
        }
        if constexpr (Mode != JoinMode::shield) {
            forwards_to = target_;
        }
        if (!target_->add_waiter(this)) {  // done already (a target of an ended loop is done)
            status_ = Status::completed;
            return false;
        }
        if (remote) {
            loop().hold_alive();  // the wake-up will come from another thread
            holding_ = true;
        }
        park(resume_at, &on_cancel_hook, wait_info);
        if constexpr (Mode == JoinMode::owned) {
            if (task_->cancel_deliverable()) {
                on_cancel_hook(this);
            }
        }
        return true;
    }
    T await_resume() {
        release_hold();
        if (status_ == Status::misuse) [[unlikely]] {
            throw_misuse();
        }
        finish(Mode == JoinMode::shield ? "shield()" : "co_await TaskHandle");
        // done() (acquire) before ending(): a target of another loop may still be running when
        // a cancel stopped this join (a cycle through loops).
        if (propagated && target_->done() && target_->ending() == Ending::cancelled &&
            task_->cancel_requested()) {
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
    /// The `nothrow()` form (docs/zero-exception.md): the same decisions as `await_resume`, the
    /// ending delivered as an `Outcome` — the waiter's own cancel or the awaited task's
    /// cancellation with no throw (the latter read back by one rethrow only if that task let a
    /// thrown `CancelledError` escape).
    Outcome<T> await_resume_outcome() noexcept {
        release_hold();
        if (status_ == Status::misuse || status_ == Status::outside_task) [[unlikely]] {
            return capture_outcome<T>([this]() -> T { return await_resume(); });
        }
        if (status_ == Status::cancelled) {
            return Outcome<T>::cancelled(task_->take_cancel());
        }
        if (propagated && target_->done() && target_->ending() == Ending::cancelled &&
            task_->cancel_requested()) {
            if constexpr (Mode == JoinMode::owned) {
                target_->mark_retrieved();
                return Outcome<T>::cancelled(task_->take_cancel());
            } else {
                (void)task_->take_cancel();  // the awaited task's cancellation is returned below
            }
        }
        try {
            return target_->join_outcome();
        } catch (...) {
            return Outcome<T>::failed(std::current_exception());  // out of memory
        }
    }

    /// `WaitInfo::detail`: the awaited task's name.
    static void describe(const Suspension& self, std::string& out) {
        const TaskState& target = *static_cast<const JoinAwaiter&>(self).target_;
        out += " of task '";
        out += target.name();
        out += "'";
    }
    static constexpr WaitInfo wait_info{Mode == JoinMode::shield  ? "shield(join)"
                                        : Mode == JoinMode::owned ? "wait_for"
                                                                  : "join",
                                        &describe};

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
    /// This loop's inbox said that a target of another loop ended (perhaps an earlier target:
    /// a wake-up can outlive the join it was for, so the target is checked).
    static void on_remote_end_hook(Suspension* suspension) noexcept {
        auto* self = static_cast<JoinAwaiter*>(suspension);
        // Acquire (done()): the target's ending, written before its end was published, is
        // visible here. The inbox's mutex orders it too, when this wake-up is the target's.
        if (self->status_ != Status::waiting || !self->target_->done()) {
            return;
        }
        self->target_->remove_waiter(self);  // unlinked by the end already, unless it is early
        self->wake(Status::completed);
    }
    void release_hold() noexcept {
        if (holding_) {
            holding_ = false;
            loop().release_alive();
        }
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
    bool holding_ = false;  // this loop is held alive for a wake-up from the target's loop
};

}  // namespace uvtask::detail
