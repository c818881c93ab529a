// uvtask — testing cancellation: run a scenario cancelled at each of its suspension points in
// turn (docs/testing.md). The schedule seed that shuffles equally-ready tasks is on `Loop`
// (`Loop::set_schedule_seed`).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "uvtask/exception_handler.hpp"
#include "uvtask/task.hpp"

// libuv's loop type, without <uv.h> (a typedef may be repeated for the same type).
struct uv_loop_s;
using uv_loop_t = uv_loop_s;

namespace uvtask::testing {

/// Options of `cancel_at_every_point`.
struct CancelPointOptions {
    /// A run that has not ended after this long (real time) has its root cancelled with the
    /// message "cancel_at_every_point: watchdog" and fails (`RootEnd::failed`, a
    /// `TimeoutError`). Must be above 0.
    std::chrono::milliseconds watchdog{10'000};
    /// `Loop::set_schedule_seed` of every run's loop (0: FIFO).
    std::uint64_t schedule_seed = 0;
    /// Every run's loop on virtual time (`Loop::set_virtual_time`): a scenario's sleeps and
    /// timeouts are jumped to, not waited for (the watchdog stays real time).
    bool virtual_time = false;
    /// With `virtual_time`: its I/O idle threshold.
    std::chrono::nanoseconds virtual_time_io_idle{std::chrono::milliseconds(10)};
};

/// How a run's root task ended.
enum class RootEnd : std::uint8_t {
    completed,  ///< returned (after refusing the cancel, if it had one)
    cancelled,  ///< ended by `CancelledError`
    failed,     ///< threw something else (`error`), or the run hit its watchdog or deadlocked
};

/// "completed", "cancelled" or "failed". At once; throws nothing; any thread.
[[nodiscard]] const char* to_string(RootEnd end) noexcept;

/// One run of a scenario, handed to the `check` of `cancel_at_every_point`.
struct CancelPointRun {
    std::size_t k = 0;            ///< the point its root was cancelled at (1…N); 0: counting run
    std::size_t points = 0;       ///< N, the counting run's number of points
    std::size_t points_seen = 0;  ///< the points this run went through (while its root lived)
    RootEnd end = RootEnd::completed;
    /// `failed`: what the root threw, or the watchdog's or the deadlock's error.
    std::exception_ptr error;
    /// `uv_loop_close` returned 0 once the run's Loop was gone: no libuv handle or request left.
    bool loop_closed_clean = false;
    /// The run's first k points were the counting run's (the same task, the same kind of
    /// awaiter, in the same order) and it reached point k. False: the scenario is not
    /// deterministic (the cancel may not have landed where k says): see `divergence`.
    bool deterministic = true;
    std::string divergence;  ///< how it diverged, e.g. "point 2: task #1 on sleep, then on …"
    std::string cancelled_at;  ///< the k-th point, e.g. "task #3 'worker' on Lock::lock()"
    std::vector<ExceptionContext> reports;  ///< what the loop's exception handler received
    /// The run's libuv loop, valid during `check` only; if `loop_closed_clean` is false, `check`
    /// may close what the scenario left open (`uv_close`, then `uv_run`). Whatever is still
    /// open after `check` is closed by `cancel_at_every_point`.
    uv_loop_t* loop = nullptr;
};

/// What `cancel_at_every_point` saw over all its runs.
struct CancelPointSummary {
    std::size_t points = 0;  ///< N, the suspension points of the counting run
    std::size_t runs = 0;    ///< N + 1
    std::size_t completed = 0;
    std::size_t cancelled = 0;
    std::size_t failed = 0;
    std::size_t unclean_loops = 0;     ///< runs whose `uv_loop_close` did not return 0
    std::size_t nondeterministic = 0;  ///< runs with `deterministic` false
};

/// Runs `scenario()` once to count its suspension points N, then N more times cancelling it at
/// the k-th point (k = 1…N), calling `check` after each run (docs/testing.md).
///
/// A point is a suspension of any task of the run's loop — the scenario's root task and every
/// task it spawns — counted in the order they happen, from the root's start to its end (the
/// loop is single-threaded: a deterministic scenario repeats the order). Only parks count: an
/// awaiter that did not suspend (a cancel was deliverable at once, or it completed without
/// waiting) is no point. At the k-th point the **root** is cancelled, message
/// "cancel_at_every_point k=<k>", as a request from outside: structured scopes pass it to the
/// children, so over the k's every child is cancelled at each of its points too. The cancel is
/// made right after the step that suspended at point k returns to the ready queue, before any
/// other task runs: the tasks are then exactly where they were at point k (issuing it inside
/// the awaiter's `await_suspend` would run the cancel hook on a half-parked awaiter).
///
/// Each run has a fresh `uv_loop_t` adopted by a new `Loop` (with `options.schedule_seed`), its
/// root spawned as "scenario"; the loop runs until the root ends (or the watchdog fires, or
/// nothing can wake the root: a deadlock, failed with `InvalidStateError`), then the tasks
/// left are cancelled (kind `shutdown`) and awaited (2 s at most), the Loop is destroyed, and
/// `uv_loop_close` says whether the run left anything open. Then `check(run)`.
///
/// Completes when: every run has ended and been checked (it blocks the calling thread).
/// Suspension point: no. On cancel: not cancellable.
/// Throws: `InvalidStateError` if `scenario` or `check` is empty or the thread has a Loop;
/// `InvalidDurationError` if `options.watchdog` is not above 0; what `scenario()` or `check`
/// throws (the run is cleaned up first; no later run is made); `std::bad_alloc`.
/// Thread safety: any thread without a Loop; `check` runs on it.
CancelPointSummary cancel_at_every_point(std::function<Task<void>()> scenario,
                                         std::function<void(const CancelPointRun&)> check,
                                         CancelPointOptions options = {});

}  // namespace uvtask::testing
