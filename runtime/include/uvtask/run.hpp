// uvtask — run(): asyncio.run for C++: a fresh loop, main to completion, a clean shutdown.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "uvtask/exception_handler.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"

namespace uvtask {

/// Options of `run()`.
struct RunOptions {
    /// SIGINT during `run()` cancels the main task with message "SIGINT" (kind `signal`); a
    /// second SIGINT restores the default disposition and re-raises it (the process dies).
    bool handle_sigint = true;
    /// When the SIGINT above ended the main task (it ended cancelled), what `run()` does after
    /// the clean shutdown (every task cancelled and awaited, the loop closed): `true` (the
    /// default) ends the process the way Ctrl-C ends a program — standard streams flushed, the
    /// default disposition restored, SIGINT raised, so the shell sees "killed by SIGINT"
    /// (status 130) and no abort; `run()` does not return and the destructors of the caller's
    /// locals do not run (as with any death by signal). `false` throws `KeyboardInterrupt`
    /// instead, for an application that handles Ctrl-C itself. A main task that refused the
    /// cancel and returned normally returns normally either way (asyncio's rule).
    bool exit_on_sigint = true;
    /// How long shutdown waits for cancelled leftover tasks to end before destroying them
    /// (each reported as destroyed while pending).
    std::chrono::milliseconds shutdown_grace{5000};
    /// `Loop::set_time_slice` for `checkpoint()`.
    std::chrono::nanoseconds time_slice{std::chrono::milliseconds(1)};
    /// The loop's exception handler; null keeps the default (stderr).
    ExceptionHandler exception_handler;
    /// `Loop::set_dump_tasks_on_sigusr1`: SIGUSR1 prints the live tasks to stderr.
    bool dump_tasks_on_sigusr1 = false;
    /// `Loop::set_slow_step_threshold`: report steps longer than this (0: off).
    std::chrono::nanoseconds slow_step_threshold{0};
    /// `Loop::set_report_swallowed_cancels`.
    bool report_swallowed_cancels = false;
    /// `Loop::set_cancel_latency_stats` (read them from main: `Loop::current()`).
    bool cancel_latency_stats = false;
    /// `Loop::set_virtual_time`: the loop's timers run on a virtual clock (tests).
    bool virtual_time = false;
    /// With `virtual_time`: how long the loop sits idle in real time, while other libuv work is
    /// under way, before the clock jumps.
    std::chrono::nanoseconds virtual_time_io_idle{std::chrono::milliseconds(10)};
    /// `Loop::set_schedule_seed` (0: FIFO). When main then ends with an exception
    /// (`CancelledError` included), "uvtask: schedule seed <n> (replay: …)" is reported through
    /// the loop's exception handler (stderr by default, task name "main"), so that the run can
    /// be replayed.
    std::uint64_t schedule_seed = 0;
};

namespace detail {
/// Throws `InvalidDurationError` if `shutdown_grace`, `time_slice`, `slow_step_threshold` or
/// `virtual_time_io_idle` is negative.
void check_run_options(const RunOptions& options);
/// Runs the loop until `main` is done, then shuts down: cancels every task left (kind
/// `shutdown`), waits for them up to the grace period, destroys the rest, closes every handle
/// and the loop. Throws `InvalidStateError` if the main task can never finish (see `run`),
/// after shutting down.
void run_main(Loop& loop, TaskState& main, const RunOptions& options);
/// After `run_main`: if main ended cancelled and `loop`'s SIGINT watch saw a SIGINT, ends the
/// process by SIGINT (`exit_on_sigint`) or throws `KeyboardInterrupt`; otherwise returns.
void end_if_interrupted(Loop& loop, TaskState& main, const RunOptions& options);
}  // namespace detail

/// Runs `main` on a new loop to completion and returns its result or rethrows its exception
/// (`CancelledError` if it ended cancelled), like `asyncio.run`. At the end every task left is
/// cancelled and awaited, every handle closed, and the loop closed. Ctrl-C: see
/// `RunOptions::handle_sigint` and `exit_on_sigint` (by default the process ends by SIGINT
/// after the clean shutdown; opted out, `run()` throws `KeyboardInterrupt`).
///
/// Completes when: main has ended and the shutdown is over.
/// Suspension point: no (it blocks the calling thread, which must have no Loop).
/// On cancel: not cancellable itself; SIGINT cancels main (above).
/// Throws: what main threw; `CancelledError` if main ended cancelled (other than by SIGINT);
/// `KeyboardInterrupt` (opted out of `exit_on_sigint`); `InvalidStateError` if this thread
/// already has a Loop (run() cannot nest) or if main can never finish; `InvalidDurationError`
/// for a negative `shutdown_grace`, `time_slice`, `slow_step_threshold` or `virtual_time_io_idle`
/// (before `main` starts).
/// Thread safety: any thread without a Loop.
///
/// A main task that can never finish. When the loop runs out of work — no libuv handle or
/// request active (timers, I/O, thread-pool jobs, child processes), no task ready — while main
/// is not done, run() asks whether anything outside the loop's tasks could still wake it:
///  - work another thread has handed in (a `post`, a `spawn_on`, a `cancel()`) not yet taken in;
///  - the Loop was handed out by `Loop::current()` (another thread may `post` to it later);
///  - a `TaskHandle` of an unfinished task exists, other than run()'s own handle on main —
///    wherever it is (another thread may hold it and `cancel()`; run() cannot tell a handle
///    in a task's frame from one on another thread). A done callback holds no handle.
/// If so, run() blocks until another thread wakes the loop, then goes on (a deadlock then hangs,
/// as it would in asyncio, Trio or Tokio). If not, nothing can ever wake main: run() shuts down
/// (main and the others are cancelled, kind `shutdown`) and throws `InvalidStateError` ("the main
/// task can never finish"). The check runs each time the loop runs out of work, not when a
/// handle is dropped: a loop waiting for another thread that then lets go of its handle without
/// waking the loop waits on. Reported, typically: main waiting on an Event, a Lock or a Queue
/// that no task will ever complete, beside only detached tasks (handles dropped) blocked the same
/// way; not reported: a cycle of joins (each join holds a handle).
template <class T>
T run(Task<T> main, RunOptions options = {}) {
    detail::check_run_options(options);
    Loop loop;
    TaskHandle<T> handle = spawn(std::move(main), "main");
    detail::run_main(loop, *detail::state_of(handle), options);
    detail::end_if_interrupted(loop, *detail::state_of(handle), options);
    if constexpr (std::is_void_v<T>) {
        handle.result();
    } else if constexpr (std::is_copy_constructible_v<T>) {
        return handle.result();
    } else {
        return detail::state_of(handle)->join_result();
    }
}

}  // namespace uvtask
