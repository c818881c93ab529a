// uvtask internals — the per-thread scheduler behind `Loop`: the ready queue, the live tasks, the
// remote inbox (work handed in from other threads) and the loop's services.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "uvtask/debug.hpp"
#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/task_host.hpp"
#include "uvtask/detail/task_state.hpp"

// libuv's loop type, without <uv.h> (a typedef may be repeated for the same type).
struct uv_loop_s;
using uv_loop_t = uv_loop_s;

namespace uvtask {
class Loop;
}

namespace uvtask::detail {

class LoopCore;
struct LoopHandles;
struct RemoteInbox;
struct LatencyStats;

/// A per-loop object of a higher layer — the timers of time/, the signal registrations and the
/// watched thread-pool jobs of io/ — created on the loop's thread on first use
/// (`LoopCore::service<S>()`) and told when the loop tears down. `S` derives from
/// `LoopService` and is constructible from `LoopCore&`.
///
/// Teardown: after every task was destroyed, the loop calls `close()` on each service, newest
/// first, and forgets it. `close()` closes the service's libuv handles (`uv_close`) and frees
/// the service once the last close callback ran (libuv owns a handle's memory until then) — or
/// at once if it has none. Close callbacks may run after the `LoopCore` is gone (an adopted
/// loop finishes them on the application's next `uv_run`): they must not touch it.
class LoopService {
public:
    LoopService(const LoopService&) = delete;
    LoopService& operator=(const LoopService&) = delete;
    virtual ~LoopService() = default;
    /// The loop tears down; see the class comment. Loop thread.
    virtual void close() noexcept = 0;

protected:
    LoopService() noexcept = default;
};

/// A call handed to a loop from another thread (`LoopCore::post`); `run` is called once, on
/// the loop's thread, then the call is destroyed.
class PostedCall : public RemoteNode {
public:
    PostedCall() noexcept = default;
    PostedCall(const PostedCall&) = delete;
    PostedCall& operator=(const PostedCall&) = delete;
    virtual ~PostedCall() = default;
    virtual void run() = 0;
};

/// A `PostedCall` running `F`.
template <class F>
class PostedCallOf final : public PostedCall {
public:
    explicit PostedCallOf(F f) : f_(std::move(f)) {}
    void run() override { f_(); }

private:
    F f_;
};

/// A watch on a loop's suspension points (`testing::cancel_at_every_point`, docs/testing.md):
/// told of every park of a task of the loop (`SuspensionPoint::park`, while the `TraceFlags`
/// bit `point_watch` is on) and after every step the ready queue ran, before the next one.
/// Loop thread.
class PointWatch {
public:
    PointWatch(const PointWatch&) = delete;
    PointWatch& operator=(const PointWatch&) = delete;
    /// `task` suspends, waiting on what `info` names. Called from inside the awaiter's
    /// `await_suspend` (the awaiter may still do work after it): it must not resume, cancel or
    /// schedule anything — record what to do and do it in `after_step`.
    virtual void on_point(TaskState& task, const WaitInfo& info) noexcept = 0;
    /// A task's step returned to the ready queue (no task is current); the next one has not run.
    virtual void after_step() noexcept = 0;

protected:
    PointWatch() noexcept = default;
    ~PointWatch() = default;
};

/// The index of service type `S` in a loop's table (the same in every loop).
[[nodiscard]] std::size_t next_service_index() noexcept;
template <class S>
[[nodiscard]] std::size_t service_index() noexcept {
    static const std::size_t index = next_service_index();
    return index;
}

/// The loop running on this thread, if any.
[[nodiscard]] LoopCore* current_loop() noexcept;

class LoopCore final : public TaskHost {
public:
    /// Wraps `loop` (owned by the `Loop`, or adopted) and becomes this thread's current loop.
    /// Throws `InvalidStateError` if `loop` is null or the thread already has one.
    explicit LoopCore(uv_loop_t* loop);
    LoopCore(const LoopCore&) = delete;
    LoopCore& operator=(const LoopCore&) = delete;
    /// Destroys tasks still pending (reported) and closes the runtime's handles.
    ~LoopCore();

    /// The loop of `task`.
    [[nodiscard]] static LoopCore& of(const TaskState& task) noexcept {
        return static_cast<LoopCore&>(task.host());
    }

    [[nodiscard]] uv_loop_t* native() const noexcept { return loop_; }
    [[nodiscard]] bool on_loop_thread() const noexcept { return tls_current_host == this; }
    /// Closed to new work. Any thread: another thread's read is only a fast early refusal (the
    /// inbox's own flag, under its mutex, decides what is taken in).
    [[nodiscard]] bool closed() const noexcept {
        // Relaxed: see above; on the loop's thread the loop's own write is seen in order.
        return closed_.load(std::memory_order_relaxed);
    }
    /// Closed and its libuv handles closed: nothing of it runs any more (the object may still
    /// be asked to `post`, which refuses).
    [[nodiscard]] bool torn_down() const noexcept { return closed() && handles_ == nullptr; }
    /// This thread stops being the loop's thread (after `close_handles`, so that the thread can
    /// have another Loop). Loop thread.
    void leave_thread() noexcept {
        if (tls_current_host == this) {
            tls_current_host = nullptr;
        }
    }
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
    [[nodiscard]] bool has_ready_tasks() const noexcept { return ready_head_ != nullptr; }
    /// How many times the ready queue was drained (run a batch): tells "tasks ran since" (the
    /// virtual clock's idle threshold). Loop thread.
    [[nodiscard]] std::uint64_t drains() const noexcept { return drains_; }

    // ---- tasks
    /// Joins `task` to the live list and the ready queue. Loop thread only.
    void adopt_new_task(TaskState* task) noexcept;
    [[nodiscard]] std::size_t live_tasks() const noexcept { return live_.size(); }
    /// `run()`'s SIGINT watch saw a SIGINT (it cancelled main). Loop thread (or after the
    /// loop's thread is done with it).
    void note_sigint() noexcept { sigint_seen_ = true; }
    [[nodiscard]] bool sigint_seen() const noexcept { return sigint_seen_; }
    /// Tasks handed to the loop (spawned here or from another thread, taken in or not) and not
    /// yet ended: what `LoopGroup` balances on. Any thread; a snapshot.
    [[nodiscard]] std::size_t load() const noexcept {
        // Relaxed: a placement hint, ordered with nothing.
        return load_.load(std::memory_order_relaxed);
    }
    /// A number for a new task's default name. Any thread.
    [[nodiscard]] std::uint64_t next_task_number() noexcept {
        // Relaxed: only uniqueness matters, not order with anything else.
        return task_counter_.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    /// Cancels every live task with `message`/`kind`; returns how many were asked. With `once`,
    /// tasks already asked by an earlier `cancel_all` are skipped.
    std::size_t cancel_all(const std::string& message, CancelKind kind, bool once = false);

    // ---- other threads (the remote inbox, drained on the loop's thread)
    /// Runs `call` on the loop's thread on a later turn, after everything posted before it.
    /// Any thread. False (and `call` destroyed) once the loop is closed.
    [[nodiscard]] bool post(std::unique_ptr<PostedCall> call) noexcept;
    /// Hands a task created on another thread to the loop, which adopts it (its body starts
    /// then). Any thread. False once the loop is closed (the task is then the caller's to end).
    /// A task queued before the loop closed but taken in by its teardown never starts: it ends
    /// cancelled (kind `shutdown`), like a task cancelled before it first ran.
    [[nodiscard]] bool post_start(TaskState* task) noexcept;

    /// While held (counted), the loop stays alive for `uv_run` even with nothing else to do:
    /// something outside the loop — another thread, another library — will wake it (a
    /// `uvtask::Operation` under way, a cross-loop join, `run()` waiting for another thread to
    /// wake it). The loop's one way to wait for a wake-up from elsewhere. Loop thread only.
    void hold_alive() noexcept;
    void release_alive() noexcept;
    /// Wakes the loop (its `uv_run` returns from the poll) without handing it anything; a
    /// no-op once the loop is closed. Any thread; never allocates.
    void poke() noexcept;

    // ---- can anything still wake the loop? (run()'s deadlock rule, docs in run.hpp)
    /// `Loop::current()` handed the Loop out: another thread may `post` or `spawn_on` to it.
    void mark_exposed() noexcept { exposed_ = true; }
    /// True if something outside the loop's own tasks could still give the loop work once it
    /// has none: the Loop was handed out (`mark_exposed`), work from another thread is queued,
    /// a task of this loop joins a task of another loop or the reverse, or a `TaskHandle` of a
    /// live task exists — other than `main`'s one (run()'s own). Loop thread.
    [[nodiscard]] bool may_be_woken_from_elsewhere(const TaskState* main) noexcept;
    /// Work handed in (a post, a task start, a cancel from another thread) waits in the remote
    /// inbox for the loop to take it in. Loop thread (takes the inbox's mutex).
    [[nodiscard]] bool inbox_has_work() noexcept;

    // ---- services (see LoopService)
    /// The loop's service `S`, created on first use. Loop thread only. Throws what creating it
    /// throws (`std::bad_alloc`), and `InvalidStateError` once the loop is closed.
    template <class S>
    [[nodiscard]] S& service() {
        const std::size_t index = service_index<S>();
        if (index < services_.size() && services_[index] != nullptr) [[likely]] {
            return *static_cast<S*>(services_[index]);
        }
        check_can_add_service();
        auto made = std::make_unique<S>(*this);
        S& service = *made;
        install_service(index, std::move(made));
        return service;
    }
    /// The loop's service `S` if it was created, else null. Loop thread only.
    template <class S>
    [[nodiscard]] S* find_service() const noexcept {
        const std::size_t index = service_index<S>();
        return index < services_.size() ? static_cast<S*>(services_[index]) : nullptr;
    }

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

    // ---- diagnostics (docs on the `Loop` setters; loop thread)
    /// Every live task, in the order the loop took them in. Throws `std::bad_alloc`.
    [[nodiscard]] std::vector<TaskInfo> task_infos();
    /// 0: off (the ready queue then never reads the clock for it).
    void set_slow_step_ns(std::uint64_t ns) noexcept {
        slow_step_ns_ = ns;
        watched_steps_ = slow_step_ns_ != 0 || point_watch_ != nullptr;
    }
    /// Installs `watch` (null: none; the caller keeps it alive while installed). Loop thread.
    void set_point_watch(PointWatch* watch) noexcept {
        point_watch_ = watch;
        watched_steps_ = slow_step_ns_ != 0 || point_watch_ != nullptr;
        trace_flags.set(TraceFlags::point_watch, watch != nullptr);
    }
    /// `SuspensionPoint::park` while the `point_watch` bit is on.
    void note_point(TaskState& task, const WaitInfo& info) noexcept {
        if (point_watch_ != nullptr) {
            point_watch_->on_point(task, info);
        }
    }
    /// 0: FIFO (the default); else the seed of the shuffled order (`Loop::set_schedule_seed`).
    void set_schedule_seed(std::uint64_t seed) noexcept {
        schedule_seed_ = seed;
        schedule_state_ = seed;
        round_end_ = nullptr;
    }
    [[nodiscard]] std::uint64_t schedule_seed() const noexcept { return schedule_seed_; }
    /// With a seed: if `main` ended with an exception (cancelled included), reports
    /// `schedule_seed_note` through the exception handler (`RunOptions::schedule_seed`).
    void report_seed_if_failed(const TaskState& main) noexcept;
    /// Starts (with empty statistics) or stops timing cancels. Throws `std::bad_alloc`.
    void set_latency_stats(bool enabled);
    [[nodiscard]] CancelLatencyStats latency_stats() const noexcept;
    /// Starts or stops the SIGUSR1 watch that prints `task_infos()` to stderr. Throws
    /// `InvalidStateError` if libuv refuses the signal handle or the loop is closed.
    void set_dump_on_sigusr1(bool enabled);

    // ---- TaskHost
    [[nodiscard]] void* enqueue_remote_cancel(TaskState& task) noexcept override;
    [[nodiscard]] void* enqueue_remote_join_end(TaskState& waiter) noexcept override;
    void send_remote_wake(void* token) noexcept override;
    void task_ended(TaskState& task) noexcept override {
        live_.remove(&task);
        load_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see load()
    }
    void report(const ExceptionContext& context) noexcept override;
    void note_cancel_delivered(std::uint64_t ns) noexcept override;
    void note_cancelled_end(std::uint64_t ns) noexcept override;

    /// Runs ready tasks until the queue is empty or the batch's time budget (~50 µs) is spent.
    void drain() noexcept;
    /// Destroys every task still pending, reporting each ("Task was destroyed but it is pending!").
    void destroy_pending_tasks() noexcept;
    /// Stops accepting spawns and work from other threads (after shutdown); what other threads
    /// handed in before is taken in (posted calls run, started tasks adopted), so that the
    /// teardown that follows treats it like everything else. Loop thread.
    void close() noexcept;
    /// Closes the services (newest first) and the runtime's libuv handles (idempotent); their
    /// memory is freed by the last close callback, on a later `uv_run`.
    void close_handles() noexcept;

private:
    void take_task(TaskState* task) noexcept;
    void arm_wake() noexcept;
    void drain_inbox() noexcept;
    void take_in(RemoteNode* node, RemoteNode::Kind kind, std::uint8_t events) noexcept;
    /// Queues `event` (RemoteNode::event_*) of `task` for the loop. Any thread.
    [[nodiscard]] void* enqueue_task_event(TaskState& task, std::uint8_t event) noexcept;
    bool slice_check_clock() noexcept;
    /// `run_step` timed for the slow-step detector; reports a step over the threshold.
    void run_timed_step(TaskState* task) noexcept;
    /// `run_step` with a diagnostic on (the slow-step detector, a point watch).
    void run_watched_step(TaskState* task) noexcept;
    /// With a schedule seed: the ready queue's order shuffled as a new round starts
    /// (src/loop/schedule_seed.cpp).
    void shuffle_round() noexcept;
    void check_can_add_service() const;
    void install_service(std::size_t index, std::unique_ptr<LoopService> service);
    friend struct LoopHandles;

    TaskState* ready_head_ = nullptr;
    TaskState* ready_tail_ = nullptr;
    bool wake_armed_ = false;
    bool draining_ = false;
    std::uint64_t drains_ = 0;  // see drains()
    std::atomic<bool> closed_{false};  // written on the loop's thread; see closed()
    bool sigint_seen_ = false;
    bool exposed_ = false;  // see mark_exposed()
    uv_loop_t* loop_;
    std::uint64_t time_slice_ns_ = 1'000'000;
    std::uint32_t batch_stride_ = 1;
    std::uint32_t slice_countdown_ = 1;  // checkpoint(): calls left before the next clock read
    std::uint32_t slice_stride_ = 1;
    std::uint64_t slice_started_ns_ = 0;  // 0: the running task has not read the clock yet
    std::uint64_t drain_clock_ns_ = 0;    // the ready queue's last clock read (before a resume)
    std::uint64_t slice_last_ns_ = 0;
    std::atomic<std::uint64_t> task_counter_{0};
    std::uint32_t alive_holds_ = 0;
    std::atomic<std::size_t> load_{0};  // see load()
    IntrusiveList<TaskState, LiveTag> live_;
    Loop* owner_ = nullptr;
    LoopHandles* handles_;  // freed by the last close callback (it may outlive this object)
    std::unique_ptr<RemoteInbox> inbox_;
    std::vector<LoopService*> services_;     // by service_index<S>(); owned until close_handles
    std::vector<LoopService*> service_order_;  // creation order, for teardown
    ExceptionHandler handler_;
    std::uint64_t slow_step_ns_ = 0;         // the slow-step threshold; 0: off
    PointWatch* point_watch_ = nullptr;      // see set_point_watch
    bool watched_steps_ = false;             // slow_step_ns_ != 0 || point_watch_ != nullptr
    std::uint64_t schedule_seed_ = 0;        // 0: FIFO
    std::uint64_t schedule_state_ = 0;       // the shuffle's PRNG (splitmix64)
    TaskState* round_end_ = nullptr;         // the last task of the shuffled round; null: none
    std::vector<TaskState*> round_scratch_;  // shuffle_round's buffer (capacity kept)
    std::unique_ptr<LatencyStats> latency_;  // while the cancel-latency statistics are on
};

inline LoopCore* current_loop() noexcept { return static_cast<LoopCore*>(tls_current_host); }

/// The loop `spawn` uses: the thread's current one; throws `InvalidStateError` if there is none
/// or it is closed, or if `task_valid` is false (an empty Task).
[[nodiscard]] LoopCore& loop_for_spawn(bool task_valid);

}  // namespace uvtask::detail
