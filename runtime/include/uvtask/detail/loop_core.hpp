// uvtask internals — the per-thread scheduler behind `Loop`: ready queue, timers, wake-ups.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask {
class Loop;
}

namespace uvtask::detail {

class LoopCore;
struct LoopHandles;
class TimerQueue;
struct TimerNode;

/// Work running on another thread that was asked to stop and that the loop watches for its end
/// (a cancelled `to_thread` job): right before libuv polls, the loop calls `poll_end` on each
/// watched node, and for a freshly watched one spins briefly, so that a job that honours its
/// stop request at once is completed without the loop falling asleep in `epoll_wait` and
/// waiting for a thread wake-up. `poll_end` returns true once it has completed the work; the
/// node is then unwatched. Lives in the awaiter (no allocation).
struct EndWatch {
    using PollHook = bool (*)(EndWatch*) noexcept;
    PollHook poll_end = nullptr;
    std::uint64_t spin_until_ns = 0;  // the loop may spin for this node until then
    EndWatch* prev = nullptr;
    EndWatch* next = nullptr;
    bool watched = false;
};

/// The loop running on this thread, if any.
inline constinit thread_local LoopCore* tls_current_loop = nullptr;
/// The task being resumed by the ready queue right now, if any.
inline constinit thread_local TaskState* tls_current_task = nullptr;

[[nodiscard]] inline TaskState* current_task() noexcept { return tls_current_task; }
[[nodiscard]] inline LoopCore* current_loop() noexcept { return tls_current_loop; }

/// Monotonic time in nanoseconds (the clock `std::chrono::steady_clock` reads).
[[nodiscard]] std::uint64_t now_ns() noexcept;

class LoopCore {
public:
    /// Wraps `loop` (owned by the `Loop`, or adopted) and becomes this thread's current loop.
    /// Throws `InvalidStateError` if `loop` is null or the thread already has one.
    explicit LoopCore(uv_loop_t* loop);
    LoopCore(const LoopCore&) = delete;
    LoopCore& operator=(const LoopCore&) = delete;
    /// Destroys tasks still pending (reported) and closes the runtime's handles.
    ~LoopCore();

    [[nodiscard]] uv_loop_t* native() const noexcept { return loop_; }
    [[nodiscard]] std::uint64_t id() const noexcept { return id_; }
    [[nodiscard]] bool on_loop_thread() const noexcept { return tls_current_loop == this; }
    [[nodiscard]] bool closed() const noexcept { return closed_; }
    /// The public `Loop` wrapping this core.
    [[nodiscard]] Loop* owner() const noexcept { return owner_; }
    void set_owner(Loop* owner) noexcept { owner_ = owner; }

    /// Appends `task` to the ready queue (FIFO). Loop thread only.
    void schedule(TaskState* task) noexcept {
        task->next_ready = nullptr;
        if (ready_tail_ != nullptr) {
            ready_tail_->next_ready = task;
        } else {
            ready_head_ = task;
        }
        ready_tail_ = task;
        if (!wake_armed_) {
            arm_wake();
        }
    }

    // ---- tasks
    void adopt_new_task(TaskState* task) noexcept;  // joins the live list and the ready queue
    void unlink_live(TaskState* task) noexcept;
    [[nodiscard]] std::size_t live_tasks() const noexcept { return live_count_; }
    [[nodiscard]] std::uint64_t next_task_number() noexcept { return ++task_counter_; }
    /// Cancels every live task with `message`/`kind`; returns how many were asked. With `once`,
    /// tasks already asked by an earlier `cancel_all` are skipped.
    std::size_t cancel_all(const std::string& message, CancelKind kind, bool once = false);
    [[nodiscard]] bool has_ready_tasks() const noexcept { return ready_head_ != nullptr; }
    /// Called by `cancel()` off the loop thread, under the task's lock (the loop's teardown marks
    /// every task done under that lock before it closes its handles, so the loop is alive):
    /// queues the task for the loop. Returns the wake-up to pass to `send_remote_wake` once the
    /// task's lock is released, or null if the loop's handles are closed.
    [[nodiscard]] LoopHandles* enqueue_remote_cancel(TaskState* task) noexcept;
    /// Wakes the loop for a queued remote cancel (`uv_async_send`). Outside the task's lock:
    /// waking a sleeping thread can take tens of µs, and the woken loop needs that lock.
    static void send_remote_wake(LoopHandles* handles) noexcept;

    // ---- timers (one uv_timer_t drives a queue of deadlines)
    /// Arms `node` (its `deadline_ns` and `on_fire` set): `on_fire` runs from the loop's timer
    /// callback on the first loop iteration at or after the deadline. Throws `std::bad_alloc`.
    void add_timer(TimerNode* node);
    /// Disarms `node` if armed. O(1).
    void remove_timer(TimerNode* node) noexcept;

    // ---- work on other threads that was asked to stop (see EndWatch)
    /// Watches `node` (its `poll_end` set), spinning for it for at most `spin_ns` before the
    /// loop next blocks. Loop thread only.
    void watch_end(EndWatch* node, std::uint64_t spin_ns) noexcept;
    /// Stops watching `node` if watched. Loop thread only.
    void unwatch_end(EndWatch* node) noexcept;

    // ---- time slice for checkpoint()
    /// True when the running task has run longer than the time slice since it was resumed.
    /// Reads the clock only every `slice_stride_` calls, the stride adapting to the call rate.
    [[nodiscard]] bool slice_expired() noexcept {
        if (--slice_countdown_ != 0) {
            return false;
        }
        return slice_check_clock();
    }
    [[nodiscard]] std::uint64_t time_slice_ns() const noexcept { return time_slice_ns_; }
    void set_time_slice_ns(std::uint64_t ns) noexcept { time_slice_ns_ = ns; }

    // ---- errors nobody can receive
    void set_exception_handler(ExceptionHandler handler) { handler_ = std::move(handler); }
    void report(const ExceptionContext& context) noexcept;

    /// Runs ready tasks until the queue is empty or the batch's time budget (~50 µs) is spent.
    void drain() noexcept;
    /// Destroys every task still pending, reporting each ("Task was destroyed but it is pending").
    void destroy_pending_tasks() noexcept;
    /// Stops accepting spawns (after shutdown).
    void close() noexcept { closed_ = true; }
    /// Stops accepting spawns and closes the runtime's libuv handles (idempotent); their memory
    /// is freed by the last close callback, on a later `uv_run`.
    void close_handles() noexcept;

private:
    void arm_wake() noexcept;
    void drain_remote_cancels() noexcept;
    void rearm_timer() noexcept;
    bool slice_check_clock() noexcept;
    void fire_timers() noexcept;
    void poll_watched_ends() noexcept;
    friend struct LoopHandles;

    TaskState* ready_head_ = nullptr;
    TaskState* ready_tail_ = nullptr;
    bool wake_armed_ = false;
    bool draining_ = false;
    bool closed_ = false;
    uv_loop_t* loop_;
    std::uint64_t id_;
    std::uint64_t time_slice_ns_ = 1'000'000;
    std::uint32_t batch_stride_ = 1;
    std::uint32_t slice_countdown_ = 1;  // checkpoint(): calls left before the next clock read
    std::uint32_t slice_stride_ = 1;
    std::uint64_t slice_started_ns_ = 0;  // 0: the running task has not read the clock yet
    std::uint64_t drain_clock_ns_ = 0;    // the ready queue's last clock read (before a resume)
    std::uint64_t slice_last_ns_ = 0;
    std::uint64_t task_counter_ = 0;
    EndWatch* ends_head_ = nullptr;
    TaskState* live_head_ = nullptr;
    std::size_t live_count_ = 0;
    Loop* owner_ = nullptr;
    LoopHandles* handles_;  // freed by the last close callback (it may outlive this object)
    std::unique_ptr<TimerQueue> timers_;
    ExceptionHandler handler_;
};

/// A deadline in the loop's timers, living in the sleeping task's awaiter (no allocation).
struct TimerNode {
    using FireHook = void (*)(TimerNode*) noexcept;
    std::uint64_t deadline_ns = 0;  // monotonic clock (now_ns())
    FireHook on_fire = nullptr;     // called from the loop's timer callback when due
    TimerNode* prev = nullptr;
    TimerNode* next = nullptr;
    void* bucket = nullptr;  // the runtime's; null when not armed
    [[nodiscard]] bool armed() const noexcept { return bucket != nullptr; }
};

}  // namespace uvtask::detail
