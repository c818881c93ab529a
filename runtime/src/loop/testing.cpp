// cancel_at_every_point (docs/testing.md): count a scenario's suspension points through the
// loop's PointWatch, then run it again cancelled at each one.
#include "uvtask/testing.hpp"

#include <uv.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "uvtask/errors.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask::testing {

const char* to_string(RootEnd end) noexcept {
    switch (end) {
        case RootEnd::completed: return "completed";
        case RootEnd::cancelled: return "cancelled";
        case RootEnd::failed: return "failed";
    }
    return "?";
}

namespace {

constexpr std::uint64_t cleanup_ms = 2000;  // for the tasks left once the root has ended

// Which point it was: the task and the kind of awaiter (what a deterministic rerun repeats).
struct PointKey {
    std::uint64_t task = 0;
    const char* what = nullptr;
    bool operator==(const PointKey&) const = default;
};

std::string describe(const PointKey& key) {
    return "task #" + std::to_string(key.task) + " on " + (key.what != nullptr ? key.what : "?");
}

// Counts the points of one run; in run k, asks for the root's cancel at point k and compares the
// points before it with the counting run's.
class CancelPointWatch final : public detail::PointWatch {
public:
    CancelPointWatch(std::size_t k, std::vector<PointKey>* keys) noexcept : k_(k), keys_(keys) {}

    void start(TaskHandle<void> root) noexcept { root_ = std::move(root); }
    void stop() noexcept { counting_ = false; }

    void on_point(detail::TaskState& task, const detail::WaitInfo& info) noexcept override {
        if (!counting_) {
            return;
        }
        const PointKey key{task.number(), info.what};
        ++seen_;
        try {
            if (k_ == 0) {
                keys_->push_back(key);
            } else if (seen_ <= k_ && deterministic_ && (*keys_)[seen_ - 1] != key) {
                deterministic_ = false;
                divergence_ = "point " + std::to_string(seen_) + ": " +
                              describe((*keys_)[seen_ - 1]) + " in the counting run, " +
                              describe(key) + " in this one";
            }
            if (seen_ == k_) {
                cancel_due_ = true;
                cancelled_at_ =
                    "task #" + std::to_string(key.task) + " '" + task.name() + "' on " + info.what;
            }
        } catch (...) {
            cancel_due_ = cancel_due_ || seen_ == k_;  // out of memory: the record is shorter
        }
    }

    // Why here and not in on_point: on_point runs inside the awaiter's await_suspend, where
    // park() is not always the last statement (yield_now schedules itself after it) — a cancel
    // hook run there would see a half-parked awaiter. After the step has returned to the ready
    // queue and before the next task runs, nothing has moved since point k: the cancel arrives
    // while the task is suspended at point k, as one from another task or a callback would.
    void after_step() noexcept override {
        if (!cancel_due_) {
            return;
        }
        cancel_due_ = false;
        try {
            root_.cancel("cancel_at_every_point k=" + std::to_string(k_));
        } catch (...) {
            root_.cancel();  // out of memory for the message: a cancel all the same
        }
    }

    void fill(CancelPointRun& run) {
        run.points_seen = seen_;
        run.deterministic = deterministic_;
        run.divergence = std::move(divergence_);
        run.cancelled_at = std::move(cancelled_at_);
        if (k_ != 0 && seen_ < k_) {
            run.deterministic = false;
            run.divergence = "the root ended after " + std::to_string(seen_) +
                             (seen_ == 1 ? " point" : " points") + ", before point " +
                             std::to_string(k_);
        }
    }

private:
    std::size_t k_;
    std::vector<PointKey>* keys_;  // the counting run's points: written in run 0, read after
    TaskHandle<void> root_;
    std::size_t seen_ = 0;
    bool counting_ = true;
    bool cancel_due_ = false;
    bool deterministic_ = true;
    std::string divergence_;
    std::string cancelled_at_;
};

// A run's libuv loop and the timer watching it; whatever the scenario left open is closed when
// the run is over (after its check), so that one bad run does not leak into the next.
struct NativeLoop {
    uv_loop_t loop{};
    uv_timer_t timer{};
    bool fired = false;
    bool closed = false;

    NativeLoop() {
        if (const int rc = uv_loop_init(&loop); rc != 0) {
            throw InvalidStateError(std::string("cancel_at_every_point: uv_loop_init: ") +
                                    uv_strerror(rc));
        }
        uv_timer_init(&loop, &timer);
        timer.data = this;
    }
    NativeLoop(const NativeLoop&) = delete;
    NativeLoop& operator=(const NativeLoop&) = delete;
    ~NativeLoop() {
        if (closed || close()) {
            return;
        }
        uv_walk(
            &loop,
            [](uv_handle_t* handle, void*) noexcept {
                if (uv_is_closing(handle) == 0) {
                    uv_close(handle, nullptr);
                }
            },
            nullptr);
        close();
    }
    /// Runs the close requests made, then `uv_loop_close`: true if it returned 0.
    bool close() noexcept {
        uv_run(&loop, UV_RUN_DEFAULT);
        closed = uv_loop_close(&loop) == 0;  // a closed loop must not be run again
        return closed;
    }
    // Fires once after `ms`; the watchdog never keeps the loop alive, the cleanup timer does.
    void arm(std::uint64_t ms, bool keeps_alive) noexcept {
        fired = false;
        uv_timer_start(
            &timer, [](uv_timer_t* t) noexcept { static_cast<NativeLoop*>(t->data)->fired = true; },
            ms, 0);
        if (keeps_alive) {
            uv_ref(reinterpret_cast<uv_handle_t*>(&timer));
        } else {
            uv_unref(reinterpret_cast<uv_handle_t*>(&timer));
        }
    }
};

void record_end(const TaskHandle<void>& root, CancelPointRun& run) {
    if (!root.done()) {
        run.end = RootEnd::failed;
        run.error = std::make_exception_ptr(
            InvalidStateError("cancel_at_every_point: the root did not end when cancelled"));
    } else if (root.cancelled()) {
        run.end = RootEnd::cancelled;
    } else if (std::exception_ptr error = root.exception()) {
        run.end = RootEnd::failed;
        run.error = std::move(error);
    } else {
        run.end = RootEnd::completed;
    }
}

// Runs the root until it ends; if the watchdog fires first or nothing can wake it (a deadlock),
// the root is cancelled ("cancel_at_every_point: watchdog" / "…: deadlock") and awaited (for
// `cleanup_ms` at most). Returns the error that fails the run then, else null.
std::exception_ptr run_root(NativeLoop& native, Loop& loop, const TaskHandle<void>& root,
                            CancelPointWatch& watch, std::chrono::milliseconds watchdog,
                            std::size_t k) {
    native.arm(static_cast<std::uint64_t>(watchdog.count()), /*keeps_alive=*/false);
    while (!root.done() && !native.fired) {
        uv_run(&native.loop, UV_RUN_ONCE);
        if (!root.done() && uv_loop_alive(&native.loop) == 0 &&
            !detail::LoopAccess::core(loop).has_ready_tasks()) {
            break;  // a deadlock
        }
    }
    if (root.done()) {
        return nullptr;
    }
    watch.stop();  // what follows is the tool's cleanup, not the scenario
    const bool timed_out = native.fired;
    root.cancel(timed_out ? "cancel_at_every_point: watchdog" : "cancel_at_every_point: deadlock");
    native.arm(cleanup_ms, /*keeps_alive=*/true);
    while (!root.done() && !native.fired) {
        uv_run(&native.loop, UV_RUN_ONCE);
    }
    const std::string run = "cancel_at_every_point: run k=" + std::to_string(k);
    if (timed_out) {
        return std::make_exception_ptr(TimeoutError(run + " did not end within " +
                                                    std::to_string(watchdog.count()) +
                                                    " ms (its watchdog)"));
    }
    return std::make_exception_ptr(
        InvalidStateError(run + ": the root waits on nothing that can complete (deadlock)"));
}

// The tasks the root left are cancelled (kind `shutdown`) and awaited, `cleanup_ms` at most.
void cancel_leftovers(NativeLoop& native, Loop& loop) {
    native.arm(cleanup_ms, /*keeps_alive=*/true);
    while (loop.live_tasks() > 0 && !native.fired) {
        detail::LoopAccess::core(loop).cancel_all("cancel_at_every_point: cleanup",
                                                  CancelKind::shutdown, /*once=*/true);
        uv_run(&native.loop, UV_RUN_ONCE);
    }
    uv_timer_stop(&native.timer);
}

// One run: cancelled at point `k` (0: none, counting into `keys`).
CancelPointRun run_once(const std::function<Task<void>()>& scenario, std::size_t k,
                        std::vector<PointKey>& keys, const CancelPointOptions& options,
                        NativeLoop& native) {
    CancelPointRun run;
    run.k = k;
    run.points = keys.size();
    CancelPointWatch watch(k, &keys);
    {
        Loop loop(&native.loop);
        loop.set_exception_handler(
            [&run](const ExceptionContext& context) { run.reports.push_back(context); });
        loop.set_schedule_seed(options.schedule_seed);
        if (options.virtual_time) {
            loop.set_virtual_time(true, options.virtual_time_io_idle);
        }
        detail::LoopAccess::core(loop).set_point_watch(&watch);
        TaskHandle<void> root = spawn(scenario(), "scenario");
        watch.start(root);
        root.add_done_callback([&watch](const TaskHandle<void>&) { watch.stop(); });
        std::exception_ptr stopped = run_root(native, loop, root, watch, options.watchdog, k);
        watch.stop();
        cancel_leftovers(native, loop);
        record_end(root, run);
        if (stopped) {
            run.end = RootEnd::failed;
            run.error = std::move(stopped);
        }
        detail::LoopAccess::core(loop).set_point_watch(nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&native.timer), nullptr);
        watch.start({});  // the watch's handle on the root goes before the loop
    }
    run.loop_closed_clean = native.close();
    if (k == 0) {
        run.points = keys.size();
    }
    watch.fill(run);
    run.loop = run.loop_closed_clean ? nullptr : &native.loop;
    return run;
}

void count(const CancelPointRun& run, CancelPointSummary& summary) noexcept {
    ++summary.runs;
    switch (run.end) {
        case RootEnd::completed: ++summary.completed; break;
        case RootEnd::cancelled: ++summary.cancelled; break;
        case RootEnd::failed: ++summary.failed; break;
    }
    summary.unclean_loops += run.loop_closed_clean ? 0 : 1;
    summary.nondeterministic += run.deterministic ? 0 : 1;
}

}  // namespace

CancelPointSummary cancel_at_every_point(std::function<Task<void>()> scenario,
                                         std::function<void(const CancelPointRun&)> check,
                                         CancelPointOptions options) {
    if (!scenario || !check) {
        throw InvalidStateError("cancel_at_every_point: the scenario or the check is empty");
    }
    if (options.watchdog.count() <= 0) {
        throw InvalidDurationError("cancel_at_every_point: the watchdog is not above 0");
    }
    if (detail::current_loop() != nullptr) {
        throw InvalidStateError("cancel_at_every_point: this thread already has a Loop");
    }
    CancelPointSummary summary;
    std::vector<PointKey> keys;
    for (std::size_t k = 0; k == 0 || k <= keys.size(); ++k) {
        CancelPointRun run;
        {
            auto native = std::make_unique<NativeLoop>();
            run = run_once(scenario, k, keys, options, *native);
            count(run, summary);
            check(run);
        }
        summary.points = keys.size();
    }
    return summary;
}

}  // namespace uvtask::testing
