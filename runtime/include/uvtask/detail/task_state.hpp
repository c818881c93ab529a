// uvtask internals — the bookkeeping of one spawned task, shared by its handles and its loop.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stop_token>
#include <utility>
#include <string>
#include <vector>

#include "uvtask/errors.hpp"
#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/spin_lock.hpp"
#include "uvtask/detail/task_host.hpp"
#include "uvtask/detail/task_trace.hpp"

namespace uvtask::detail {

class TaskState;

/// The awaiter a task is suspended in, as seen by `cancel()`: its hook asks the operation to stop
/// (stop the timer, unlink the waiter, `uv_cancel` the request) and, once stopped, schedules the
/// task so that its `await_resume` throws `CancelledError`.
///
/// A join that passes its task's cancels on to the task it waits for sets `forwards_to`: a
/// cancel then walks the chain of such joins iteratively (`TaskState::cancel_join_chain`), never
/// recursing once per task, and a chain that comes back to a join on the walk is a cycle.
struct Suspension {
    using CancelHook = void (*)(Suspension*) noexcept;
    CancelHook on_cancel = nullptr;
    /// A join of a task of another loop: called on the waiting task's loop when that task's
    /// loop said it ended (`TaskHost::enqueue_remote_join_end`); the hook checks that its own
    /// target is done (a stale wake-up is ignored).
    CancelHook on_remote_end = nullptr;
    TaskState* forwards_to = nullptr;  // a propagating join: the task it waits for
    bool forwarding = false;           // on the walk of the current cancel (cycle detection)
    Suspension* walk_next = nullptr;   // the next join on that walk, to clear the marks after
    bool propagated = false;           // a cancel was passed on to `forwards_to`
    const WaitInfo* waits_on = nullptr;  // what it waits on (set by `park()`)
};

/// What a scope (a deadline, a task group) recorded when it cancelled the task it runs in, to
/// withdraw exactly that request later (`TaskState::withdraw_scoped`).
struct ScopedRequest {
    std::uint64_t sequence = 0;         // the task's request counter right after ours
    std::uint32_t deliveries_before = 0;  // the task's deliveries when ours was recorded
};

/// What withdrawing a scope's request found, read atomically with any concurrent `cancel()`.
struct Withdrawal {
    int remaining = 0;   // the task's cancelling() after the withdrawal
    bool newer = false;  // a request arrived after the scope's
};

/// A node in a task's list of joiners, living in the joiner's awaiter (no allocation to wait).
/// Linked and unlinked under the joined task's lock (a joiner may be on another loop's thread).
struct JoinWaiter : ListHook<JoinWaiter> {
    using DoneHook = void (*)(JoinWaiter*) noexcept;
    DoneHook on_done = nullptr;  // a joiner on the same loop: called on the loop's thread
    /// A joiner on another loop: the joining task, woken through its own loop's inbox
    /// (`on_done` is not called then).
    TaskState* remote_task = nullptr;
    /// A structured scope's watch on its child (`Loop::tasks()` shows it): the scope's kind
    /// ("task group", "gather", "race") and the task it runs in; null for a plain join.
    const char* scope_kind = nullptr;
    const TaskState* scope_owner = nullptr;
};

/// A registration of `this_task::on_cancel`: `on_cancel` runs once, on the loop's thread, when
/// the task it is registered with is cancelled. Lives in the registration object.
struct CancelCallbackNode : ListHook<CancelCallbackNode> {
    using Hook = void (*)(CancelCallbackNode*) noexcept;
    Hook run = nullptr;
};

/// The tag of a task's link in its loop's list of live tasks.
struct LiveTag {};

/// How a task ended (or that it has not yet).
enum class Ending : std::uint8_t { pending, value, failed, cancelled };

/// What every `Task<T>` coroutine frame's promise shares, so the runtime can read a finished
/// frame without knowing `T`.
struct PromiseBase {
    std::coroutine_handle<> continuation;  // the coroutine that awaits this one inline, if any
    TaskState* root_of = nullptr;          // set when this frame is the body of a spawned task
    std::exception_ptr exception;          // what escaped the body
    bool exception_is_cancel = false;      // it was a CancelledError
    /// The body ended by `co_yield propagate(cancellation)`: the cancellation, which lives in the
    /// body's suspended frame until the frame is destroyed (no exception object, no throw).
    CancelledError* propagated_cancel = nullptr;
};

/// The shared state of a spawned task. One reference is held by the loop while the task is not
/// done, one by each `TaskHandle`. Fields other than the atomics and those under `lock_` belong
/// to the loop's thread.
class TaskState : public ListHook<LiveTag>, public RemoteNode {
public:
    /// `name` empty: the task is called "Task-<number>".
    TaskState(TaskHost& host, std::uint64_t number, std::string name);
    TaskState(const TaskState&) = delete;
    TaskState& operator=(const TaskState&) = delete;

    /// A reference the runtime holds (the loop's, a join's, the remote inbox's…).
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept { release_weight(1); }
    /// A reference a `TaskHandle` holds: counted apart too, so that the loop can tell whether
    /// anyone but the runtime could still `cancel()` the task (`handle_count()`).
    void add_handle_ref() noexcept { refs_.fetch_add(handle_weight, std::memory_order_relaxed); }
    void release_handle() noexcept { release_weight(handle_weight); }
    /// How many `TaskHandle`s refer to the task now (any thread; a snapshot).
    [[nodiscard]] std::uint32_t handle_count() const noexcept {
        // Relaxed: a snapshot for the loop's "can anyone still wake me" check; a handle made
        // from another handle never raises the count from 0.
        return static_cast<std::uint32_t>(refs_.load(std::memory_order_relaxed) >> 32);
    }

    [[nodiscard]] std::string name() const;
    /// The loop the task belongs to (the loop layer's `loop_of` gives its `LoopCore`). Only
    /// valid while the loop lives: compare `loop_id()` to recognise a loop.
    [[nodiscard]] TaskHost& host() const noexcept { return *host_; }
    /// The id of the task's loop (`TaskHost::id()`): unlike the pointer, never reused by a later
    /// loop, so a handle from a destroyed loop is recognised as foreign.
    [[nodiscard]] std::uint64_t loop_id() const noexcept { return loop_id_; }
    /// An id of the task unique in the process (its loop's id and its number).
    [[nodiscard]] std::uint64_t global_id() const noexcept { return (loop_id_ << 40) ^ number_; }
    /// True if `other` belongs to the same loop (the one test of "a handle of another loop").
    [[nodiscard]] bool same_loop_as(const TaskState& other) const noexcept {
        return loop_id_ == other.loop_id_;
    }
    /// True on the thread of the task's loop while that loop runs there.
    [[nodiscard]] bool on_loop_thread() const noexcept { return tls_current_host == host_; }
    [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire); }
    [[nodiscard]] Ending ending() const noexcept { return ending_; }
    /// The stored exception of a failure; marks it as retrieved. (A cancelled ending may have
    /// no exception object: `ending_exception()`.)
    [[nodiscard]] const std::exception_ptr& take_exception() noexcept {
        mark_retrieved();
        return exception_;
    }
    /// The ending as an exception: the failure, or the cancellation (made into an exception
    /// object without a throw when the task ended by `propagate`). Null after a value.
    [[nodiscard]] std::exception_ptr ending_exception() noexcept;
    /// A task that ended cancelled: its `CancelledError` (message and kind), as a value. Free
    /// of throws when the task ended by `propagate` or by loop teardown; when the body let a
    /// thrown `CancelledError` escape, it is read back by one rethrow (the mixed path,
    /// docs/zero-exception.md). Throws `std::bad_alloc` copying the message.
    [[nodiscard]] CancelledError ending_cancellation() const;
    /// A task that ended cancelled: throws its `CancelledError` (once, a fresh one when it
    /// ended without an exception object).
    [[noreturn]] void throw_cancelled_ending() const;
    void mark_retrieved() noexcept {
        // Relaxed: read only by the last reference's release (ordered by the count's acq_rel).
        retrieved_.store(true, std::memory_order_relaxed);
    }

    // ---- cancellation (docs/semantics.md §3)
    /// `cancel(msg)`: safe from any thread. False if the task is done. With `keep_pending_reason`
    /// (a deadline or a task group cancelling the task it runs in), a request already waiting for
    /// delivery keeps its message and kind: the error then says who else asked, not the scope.
    /// Out of memory for the message, the request is recorded without it (never lost).
    /// `origin`: for a request passed along joins, the task it started at (`global_id()`; 0: this
    /// request starts here), which tells a cycle of joins across loops.
    bool request_cancel(std::string message, CancelKind kind, bool keep_pending_reason = false,
                        std::uint64_t origin = 0) noexcept;
    /// A scope (deadline, task group) cancels the task it runs in: `request_cancel(…, true)`,
    /// returning what `withdraw_scoped` needs. Loop thread.
    [[nodiscard]] ScopedRequest request_cancel_scoped(std::string message, CancelKind kind) noexcept;
    /// The scope's work ended: withdraws its request (one `uncancel()`) and, if it was never
    /// delivered, takes it out of the undelivered ones; when none is left the task has nothing
    /// pending (a request made and withdrawn after ours, such as an inner deadline's, leaves
    /// nothing behind either). All under the task's lock, so a `cancel()` from another thread
    /// is never taken for the scope's own.
    [[nodiscard]] Withdrawal withdraw_scoped(const ScopedRequest& request) noexcept;
    /// `cancelling()` minus a request still waiting for delivery (it is not handled yet), read
    /// atomically: what a scope entering now counts as "already handled".
    [[nodiscard]] int handled_cancelling() const noexcept;
    /// How many cancels were delivered to the task so far (thrown, or consumed by a join).
    [[nodiscard]] std::uint32_t deliveries() const noexcept {
        return deliveries_.load(std::memory_order_relaxed);
    }
    /// A request is waiting for delivery and no `non_cancellable` scope holds it back.
    [[nodiscard]] bool cancel_deliverable() const noexcept {
        return hold_depth_ == 0 && cancel_requested_.load(std::memory_order_acquire);
    }
    [[nodiscard]] bool cancel_requested() const noexcept {
        return cancel_requested_.load(std::memory_order_acquire);
    }
    /// Consumes the pending request (one delivery per request) and returns the error to throw
    /// (its message is moved out: the request is gone).
    [[nodiscard]] CancelledError take_cancel() noexcept;
    [[nodiscard]] int cancelling() const noexcept {
        return cancelling_.load(std::memory_order_acquire);
    }
    int uncancel() noexcept;
    void hold_cancellation() noexcept { ++hold_depth_; }
    void release_cancellation() noexcept { --hold_depth_; }
    [[nodiscard]] std::stop_token stop_token();
    /// Runs the cancel hook of the awaiter the task is suspended in, if a request is deliverable.
    void deliver_cancel_if_suspended() noexcept;
    /// Passes this task's current request (message and kind) on to `target` (docs/semantics.md
    /// §3.6). Out of memory copying the message, passes it on without the message.
    void forward_cancel_to(TaskState& target) noexcept;
    /// This task, suspended in `first` (a join with `forwards_to` set), was cancelled: passes the
    /// request along the chain of joins that starts there, iteratively, and delivers it to the
    /// task at the end of the chain. A join met twice on the walk (a cycle: A awaits B awaits …
    /// awaits A) is told through its hook with `forwarding` set, and stops waiting. Loop thread.
    void cancel_join_chain(Suspension& first) noexcept;

    // ---- suspension bookkeeping (loop thread)
    void suspend_in(std::coroutine_handle<> resume_at, Suspension* where) noexcept {
        resume_point_ = resume_at;
        suspended_in_ = where;
        trace.last_wait = where->waits_on;
    }
    void set_resume_point(std::coroutine_handle<> resume_at) noexcept { resume_point_ = resume_at; }
    void leave_suspension() noexcept { suspended_in_ = nullptr; }
    /// The awaiter the task is suspended in now, if any. Loop thread.
    [[nodiscard]] Suspension* suspension() const noexcept { return suspended_in_; }

    /// Reports `error` through the loop's exception handler (on its thread), with this task's
    /// name.
    void report_error(const char* message, std::exception_ptr error) const noexcept;

    // ---- cancel callbacks (this_task::on_cancel; loop thread)
    /// Registers `node`; if a request is pending now, runs it at once (and does not register).
    void add_cancel_callback(CancelCallbackNode* node) noexcept;
    void remove_cancel_callback(CancelCallbackNode* node) noexcept {
        cancel_callbacks_.remove(node);
    }
    /// A request reached the task: runs (and unregisters) every registered cancel callback.
    void run_cancel_callbacks() noexcept;

    // ---- joiners (any thread: under the lock) and callbacks (loop thread)
    /// Links `waiter` unless the task is done (then false), atomically with its end: a joiner on
    /// another loop either sees the task done or is woken by its end.
    [[nodiscard]] bool add_waiter(JoinWaiter* waiter) noexcept;
    /// Unlinks `waiter` if it is still linked (its end may have unlinked it already).
    void remove_waiter(JoinWaiter* waiter) noexcept;
    /// The structured scope watching this task (a joiner with `scope_kind` set), or null.
    /// Loop thread (the scope is on it).
    [[nodiscard]] const JoinWaiter* scope_watch() const noexcept;
    void add_done_callback(std::function<void()> callback);

    // ---- lifecycle (runtime)
    void bind_frame(std::coroutine_handle<> frame) noexcept {
        frame_ = frame;
        resume_point_ = frame;
    }
    /// Called by the ready queue: start or resume the task.
    void run_step() noexcept {
        if (!started_) [[unlikely]] {
            if (start_or_skip()) {
                return;
            }
        }
        resume_point_.resume();
    }
    /// The body finished (value, exception or cancellation): collect, free the frame, wake.
    void on_body_final(std::coroutine_handle<> frame, PromiseBase& promise) noexcept;
    /// Loop teardown: the task will never run again. It ends cancelled (kind `shutdown`) with
    /// `why` as the message.
    void destroy_pending(const char* why = "task destroyed while pending") noexcept;

    /// The task's number on its loop (its default name is "Task-<number>").
    [[nodiscard]] std::uint64_t number() const noexcept { return number_; }
    /// The task had its first turn (its body started, or was skipped: cancelled before).
    [[nodiscard]] bool started() const noexcept { return started_; }

    TaskState* next_ready = nullptr;  // ready-queue link
    TaskTrace trace;                  // for people looking at the running program
    bool shutdown_requested = false;  // cancel_all(once) already asked this task

protected:
    ~TaskState();
    /// Moves the body's result out of the finished frame into the state.
    virtual void collect_value(std::coroutine_handle<> frame) noexcept = 0;
    /// Runs the most-derived destructor and frees the memory.
    virtual void destroy_self() noexcept = 0;
    /// Through the loop's exception handler when on its thread, else the default handler.
    void report(const ExceptionContext& context) const noexcept;
    void fail_with(std::exception_ptr error) noexcept {
        ending_ = Ending::failed;
        exception_ = std::move(error);
    }
    /// The body ended cancelled without an exception object (`propagate`): keeps its message
    /// and kind (out of memory for the message, the ending keeps its kind only).
    void end_cancelled(CancelledError& error) noexcept;

private:
    bool start_or_skip() noexcept;
    /// Records a request (count, flag, message, kind, stop, remote wake-up) without delivering
    /// it on this thread. Returns false if the task is done.
    bool record_request(std::string& message, CancelKind kind, bool keep_pending_reason,
                        ScopedRequest* scoped = nullptr, std::uint64_t origin = 0) noexcept;
    void finish() noexcept;
    /// `report_swallowed_cancels`: the body returned a value after a cancel it neither re-raised
    /// nor `uncancel()`ed reached it (docs/semantics.md §3.4): tell the exception handler.
    void report_if_swallowed() const noexcept;
    void last_reference_gone() noexcept;
    /// Takes every joiner: wakes those on other loops through their loops' inboxes, and calls
    /// those on this loop if `local_ones` (not at teardown: they are being destroyed too).
    void wake_waiters(bool local_ones) noexcept;
    void run_done_callbacks() noexcept;

    // The low 32 bits count every reference, the high 32 bits the TaskHandles among them.
    static constexpr std::uint64_t handle_weight = (std::uint64_t{1} << 32) + 1;
    void release_weight(std::uint64_t weight) noexcept {
        // Acq_rel: the last release sees every other holder's writes before destroying.
        if (refs_.fetch_sub(weight, std::memory_order_acq_rel) == weight) {
            last_reference_gone();
        }
    }

    std::atomic<std::uint64_t> refs_{1};
    std::atomic<bool> cancel_requested_{false};
    std::atomic<bool> done_{false};
    std::atomic<int> cancelling_{0};
    std::atomic<std::uint32_t> deliveries_{0};
    std::uint64_t request_sequence_ = 0;  // under lock_: one more per request
    // Under lock_: requests recorded since the last delivery and not withdrawn by their scope.
    // A delivery consumes them all (they coalesce); the pending flag is cleared with the last.
    std::uint32_t undelivered_ = 0;
    TaskHost* host_;
    std::uint64_t loop_id_;
    std::coroutine_handle<> frame_;
    std::coroutine_handle<> resume_point_;
    Suspension* suspended_in_ = nullptr;
    IntrusiveList<JoinWaiter, JoinWaiter> waiters_;
    IntrusiveList<CancelCallbackNode, CancelCallbackNode> cancel_callbacks_;
    std::uint32_t hold_depth_ = 0;
    Ending ending_ = Ending::pending;
    CancelKind kind_ = CancelKind::user;
    CancelKind ending_kind_ = CancelKind::user;  // a cancelled ending without exception_
    std::uint64_t cancel_origin_ = 0;  // under lock_: where the latest request started (0: here)
    bool started_ = false;
    std::atomic<bool> retrieved_{false};  // joins on several loops may retrieve it at once
    mutable SpinLock lock_;  // guards kind_, extras_ (creation, message, stop source), the done_ transition
    std::uint64_t number_;
    std::exception_ptr exception_;
    // What most tasks never need, allocated on first use: a custom name, a cancel message, a
    // stop source, done callbacks (keeps a sleeping task small: S4 in bench/PROTOCOL.md).
    struct Extras {
        std::string name;
        std::string message;
        std::string ending_message;  // a cancelled ending without exception_ (end_cancelled)
        std::unique_ptr<std::stop_source> stop_source;
        std::vector<std::function<void()>> done_callbacks;
        CancelTimes cancel_times;  // the cancel-latency statistics only
    };
    Extras& extras();  // under lock_ when another thread may race
    /// Under lock_: the pending request is withdrawn, its time forgotten (latency statistics).
    void forget_request_time() noexcept {
        if (extras_) {
            extras_->cancel_times.requested_ns = 0;
        }
    }
    std::unique_ptr<Extras> extras_;
};

/// Intrusive reference to a task state (what a `TaskHandle` holds): a handle reference
/// (`TaskState::add_handle_ref`).
template <class State>
class StateRef {
public:
    StateRef() noexcept = default;
    /// Adopts one handle reference the caller already holds.
    static StateRef adopt(State* state) noexcept {
        StateRef ref;
        ref.state_ = state;
        return ref;
    }
    /// Takes a new handle reference on `state`.
    static StateRef share(State* state) noexcept {
        state->add_handle_ref();
        return adopt(state);
    }
    StateRef(const StateRef& other) noexcept : state_(other.state_) {
        if (state_ != nullptr) {
            state_->add_handle_ref();
        }
    }
    StateRef(StateRef&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    StateRef& operator=(StateRef other) noexcept {
        std::swap(state_, other.state_);
        return *this;
    }
    ~StateRef() {
        if (state_ != nullptr) {
            state_->release_handle();
        }
    }
    [[nodiscard]] State* get() const noexcept { return state_; }
    State* operator->() const noexcept { return state_; }
    explicit operator bool() const noexcept { return state_ != nullptr; }

private:
    State* state_ = nullptr;
};

}  // namespace uvtask::detail
