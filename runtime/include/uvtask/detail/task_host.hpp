// uvtask internals — what a task needs from the loop that runs it, seen from the core layer
// (the loop layer implements it: LoopCore), and the thread's current task.
#pragma once

#include <cstdint>

#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/task_trace.hpp"

namespace uvtask::detail {

class TaskState;

/// A link in a loop's remote inbox: work handed to the loop from another thread (a cancel, a
/// task to start, a posted call), queued under the inbox's lock and taken in on the loop's
/// thread in FIFO order. A task state embeds one, so queueing a remote cancel never allocates.
struct RemoteNode {
    /// `task`: a task's events (`remote_events`) — a cancel, the end of a task it joins on
    /// another loop; `start`: a task to adopt; `call`: a posted call.
    enum class Kind : std::uint8_t { idle, task, start, call };
    /// The events of a queued `task` node (bits, several may be pending at once).
    static constexpr std::uint8_t event_cancel = 1;    // cancel() from another thread
    static constexpr std::uint8_t event_join_end = 2;  // a task it joins on another loop ended
    RemoteNode* next_remote = nullptr;
    Kind remote_kind = Kind::idle;   // idle: not queued (guarded by the inbox's lock)
    std::uint8_t remote_events = 0;  // guarded by the inbox's lock, like remote_kind
};

/// The loop a task belongs to, as the core layer sees it: the few things a task's bookkeeping
/// asks of its loop. Implemented by the loop layer (`LoopCore`); the hot paths (scheduling a
/// task) go through the loop layer directly, these virtual calls are for the rare ones.
class TaskHost {
public:
    TaskHost(const TaskHost&) = delete;
    TaskHost& operator=(const TaskHost&) = delete;

    /// Unique for the life of the process: never reused by a later loop (a pointer may be).
    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

    /// A task was cancelled from another thread: queue it for the loop, which delivers the
    /// cancel on its own thread. Called under the task's lock (the loop's teardown marks every
    /// task done under that lock before it closes its wake-up, so the loop is alive here).
    /// Returns a token for `send_remote_wake`, or null if the loop no longer takes wake-ups.
    [[nodiscard]] virtual void* enqueue_remote_cancel(TaskState& task) noexcept = 0;
    /// Wakes the loop for a queued remote cancel, outside the task's lock (waking a sleeping
    /// thread can take tens of µs, and the woken loop needs that lock). `token` is what
    /// `enqueue_remote_cancel` returned; the loop waits for this call before it tears down.
    virtual void send_remote_wake(void* token) noexcept = 0;
    /// A task of another loop that `waiter` (a task of this loop) joins has ended: queue
    /// `waiter` for the loop, which then resumes it if it still waits for that task. Called
    /// under the ended task's lock, while `waiter` is linked among its joiners (so the loop
    /// is alive: its teardown unlinks its joiners under that lock). Returns a token for
    /// `send_remote_wake`, or null if the loop no longer takes wake-ups. Never allocates.
    [[nodiscard]] virtual void* enqueue_remote_join_end(TaskState& waiter) noexcept = 0;
    /// The task has ended (its waiters are woken next). Loop thread.
    virtual void task_ended(TaskState& task) noexcept = 0;
    /// Reports what no task can receive through the loop's exception handler. Loop thread.
    virtual void report(const ExceptionContext& context) noexcept = 0;
    /// Cancel-latency statistics (when `trace_flags` has `latency_stats`): a request reached a
    /// task `ns` after it was made; a task ended cancelled `ns` after its latest delivery.
    /// Loop thread.
    virtual void note_cancel_delivered(std::uint64_t ns) noexcept = 0;
    virtual void note_cancelled_end(std::uint64_t ns) noexcept = 0;

    /// The opt-in diagnostics the core layer acts on (the loop layer's setters write them).
    TraceFlags trace_flags;

protected:
    explicit TaskHost(std::uint64_t id) noexcept : id_(id) {}
    ~TaskHost() = default;

private:
    std::uint64_t id_;
};

/// The loop running on this thread, if any.
inline constinit thread_local TaskHost* tls_current_host = nullptr;
/// The task being resumed by the ready queue right now, if any.
inline constinit thread_local TaskState* tls_current_task = nullptr;

[[nodiscard]] inline TaskState* current_task() noexcept { return tls_current_task; }

/// Monotonic time in nanoseconds (the clock `std::chrono::steady_clock` reads): the real time
/// the scheduler's budgets are measured in. Deadlines read their loop's clock instead
/// (`deadline_clock_ns`, in the time layer), which a test can make virtual.
[[nodiscard]] std::uint64_t monotonic_ns() noexcept;

}  // namespace uvtask::detail
