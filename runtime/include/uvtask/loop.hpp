// uvtask — Loop: the per-thread scheduler over a uv_loop_t (owned, or adopted from the app).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "uvtask/debug.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/exception_handler.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask {

namespace detail {
/// The runtime's access to a Loop's internals (not public API).
struct LoopAccess {
    [[nodiscard]] static LoopCore& core(Loop& loop) noexcept;
    /// Tears the loop down on its own thread, as its destructor would, but keeps the object:
    /// closes it, destroys the tasks still pending (reported), closes its handles and an owned
    /// uv_loop_t, and frees the thread for another Loop. What is left refuses `post` and
    /// `spawn_on` with `InvalidStateError` and may be destroyed on any thread. Loop thread.
    static void tear_down(Loop& loop) noexcept;
};
}  // namespace detail

/// One per thread: the ready queue, the timers and the wake-ups of uvtask on a `uv_loop_t`.
///
/// `Loop()` owns a fresh `uv_loop_t` (what `run()` uses). `Loop(uv_loop_t*)` adopts an
/// application's loop without taking over `uv_run`: the ready queue is drained from a libuv
/// check handle (an idle handle keeps the poll from blocking while tasks are ready), so tasks
/// run inside the application's own `uv_run`, one batch of at most ~50 µs per loop iteration.
/// The runtime's handles are unreferenced except while tasks have work (ready tasks, pending
/// sleeps), so `uv_run` returns when uvtask has nothing left to do.
///
/// Destroying a Loop closes it to new tasks (`spawn` throws `InvalidStateError`, also from the
/// destructors that run next), destroys tasks still pending — each reported through the
/// exception handler as "Task was destroyed but it is pending!" with its name; a handle kept to
/// one then says it ended cancelled, kind `shutdown` — and closes the runtime's handles.
/// An owned loop is then run until they are closed and `uv_loop_close`d; an adopted loop gets
/// the close requests and finishes them on the application's next `uv_run` (the application's
/// own handles are untouched). Thread safety: `post`, `spawn` (`spawn_on`) and
/// `TaskHandle::cancel()` are safe from any thread; everything else belongs to the loop's thread.
///
/// A Loop belongs to the thread that created it and must be destroyed there: destroying it on
/// another thread would run its tasks' destructors and close its libuv handles on a thread
/// that may be running them, and leave its own thread pointing at a freed Loop. It is a named
/// error: the destructor reports "a uvtask Loop was destroyed on a thread other than its own"
/// on stderr and calls `std::terminate()` (as destroying a joinable `std::thread` does; a
/// destructor cannot throw, and leaking the loop would hide the bug). The loops of a
/// `LoopGroup` are torn down on their own threads by the group, then freed with it.
class Loop {
public:
    /// A Loop on a new `uv_loop_t` it owns. `InvalidStateError` if this thread has a Loop.
    Loop();
    /// A Loop on the application's `loop`, which it does not own or run.
    /// `InvalidStateError` if `loop` is null or this thread has a Loop.
    explicit Loop(uv_loop_t* loop);
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    ~Loop();

    /// This thread's Loop, or null. Handing the Loop out this way tells `run()` that another
    /// thread may `post` to it: from then on `run()` never reports that its main task can
    /// never finish (see `run`).
    [[nodiscard]] static Loop* current() noexcept;
    /// The underlying libuv loop.
    [[nodiscard]] uv_loop_t* native() const noexcept;

    /// `spawn_on(*this, task, name)`: safe from any thread (see `spawn_on`).
    template <class T>
    TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
        return uvtask::spawn_on(*this, std::move(task), std::move(name));
    }

    /// Runs `f()` on this loop's thread on a later turn (asyncio's `call_soon_threadsafe`).
    ///
    /// Completes when: at once; `f` runs later, from the loop, in the order the calls were
    /// posted (so calls from one thread run in the order that thread posted them), outside
    /// any task (it may `spawn`). An exception from `f` goes to the exception handler.
    /// Suspension point: no.
    /// On cancel: not cancellable; a posted call always runs once accepted, even if the loop
    /// closes first (it then runs during the loop's teardown, where `spawn` throws).
    /// Throws: `InvalidStateError` if the loop is closed (`f` is not run); `std::bad_alloc`
    /// (nothing posted).
    /// Thread safety: any thread. The Loop object must outlive the call.
    template <class F>
        requires std::invocable<std::decay_t<F>&> && std::move_constructible<std::decay_t<F>>
    void post(F&& f) {
        post_call(std::make_unique<detail::PostedCallOf<std::decay_t<F>>>(std::forward<F>(f)));
    }

    /// Cancels every task that is not done, with `message` and `kind`; returns how many.
    std::size_t cancel_all(std::string message = {}, CancelKind kind = CancelKind::shutdown);
    /// How many spawned tasks are not done.
    [[nodiscard]] std::size_t live_tasks() const noexcept;

    /// Replaces the exception handler (see `ExceptionContext`).
    void set_exception_handler(ExceptionHandler handler);
    /// The time a task may run between two `checkpoint()`s that yield (default 1 ms).
    /// `InvalidDurationError` if negative.
    void set_time_slice(std::chrono::nanoseconds slice);

    /// Virtual time, for tests (docs/testing.md): while on, the loop's timer clock (`LoopClock`,
    /// what `sleep`, `Deadline`, `with_timeout`, `move_on_after` and `wait_for` measure) stands
    /// still while anything can run, and jumps straight to the earliest deadline whenever
    /// nothing is ready — so a test of a 5-second sleep cancelled at 1 second takes
    /// microseconds, and timers fire in the same order every run (deadline order; FIFO within
    /// a millisecond: the clock moves in whole milliseconds, a deadline's rounded up). While
    /// libuv has other work under way — a read, a thread-pool job (`to_thread`, files, DNS), a
    /// child process, a wake-up from another thread, any referenced active handle — the jump
    /// waits until the loop has sat idle for `io_idle_threshold` of real time (Trio's autojump
    /// clock); 0 jumps at once even then. Everything else keeps real time: `checkpoint()`'s
    /// time slice, the slow-step detector, task ages, `run()`'s shutdown grace, a process's
    /// terminate grace, the libuv timers of the application.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `InvalidStateError` while a sleep or a deadline is armed on the loop (switch the
    /// clock before the first one), when switching off would move the clock backwards (the
    /// virtual clock has run ahead of real time: a loop's clock never goes back), or if the loop
    /// is closed; `InvalidDurationError` if `io_idle_threshold` is negative; `std::bad_alloc`.
    /// Thread safety: loop thread only.
    void set_virtual_time(
        bool enabled, std::chrono::nanoseconds io_idle_threshold = std::chrono::milliseconds(10));

    // ---- seeing cancellation (README, "Debugging cancellation"). Each switch is off by default
    // and costs nothing measurable while off (bench/: S1, S2, S4).

    /// Every live task (spawned and not done), in the order the loop took them in: its name,
    /// state, what it waits on, age, `cancelling()` and the task that spawned it (`TaskInfo`).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `std::bad_alloc`.
    /// Thread safety: loop thread only (from a task, a posted call, a libuv callback).
    [[nodiscard]] std::vector<TaskInfo> tasks() const;
    /// Prints `tasks()` to `out`, one line per task:
    /// `  #3 'worker' suspended on sleep (998.1 ms left), age 2 ms, spawned by #1 'main'`.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `std::bad_alloc`; what `out` throws.
    /// Thread safety: loop thread only.
    void dump_tasks(std::ostream& out) const;
    /// While on, a SIGUSR1 sent to the process prints `dump_tasks()` to stderr, from the loop
    /// (on its next turn: a loop stuck in a long step prints when the step ends — the slow-step
    /// detector names such steps). Off by default (SIGUSR1 then keeps its disposition: the
    /// default one ends the process). Each loop with it on prints its own dump. The watch never
    /// keeps the loop alive.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `InvalidStateError` if the loop is closed or libuv refuses the signal handle.
    /// Thread safety: loop thread only.
    void set_dump_tasks_on_sigusr1(bool enabled);
    /// While `threshold` is above 0, a step of a task longer than `threshold` — the run between
    /// two suspension points, the cancellation latency the task imposes on itself and the loop
    /// latency it imposes on everyone else — is reported through the exception handler:
    /// `ExceptionContext::task_name` is the task's, `message` reads "slow step: 12.3 ms without
    /// a suspension point (resumed from sleep, then suspended on Lock::lock())", `exception` is
    /// null. 0 (the default) turns it off; the ready queue then never reads the clock for it.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `InvalidDurationError` if `threshold` is negative.
    /// Thread safety: loop thread only.
    void set_slow_step_threshold(std::chrono::nanoseconds threshold);
    /// While on, a task that received a cancel — `CancelledError` thrown, or returned as an
    /// `Outcome` by `nothrow()` — and then returned a value without re-raising it or calling
    /// `uncancel()` is reported through the exception handler, with the task's name and the
    /// message "Task swallowed a cancellation: …" (exception null). Refusing a cancel is legal
    /// (docs/semantics.md §3.4); the report tells a decision from an accident of a
    /// `catch (...)`. A request withdrawn by its scope (a deadline that expired, a task group)
    /// is not a swallowed one; a request that never reached the task is not either.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: loop thread only.
    void set_report_swallowed_cancels(bool enabled) noexcept;
    /// Turns the cancel-latency statistics on (from empty) or off (dropped). While on, each
    /// cancel is timed (two clock reads per request) — see `CancelLatencyStats`.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `std::bad_alloc` (turning on). Thread safety: loop thread only.
    void set_cancel_latency_stats(bool enabled);
    /// The statistics since they were turned on (all zero while off); print them with `<<`.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: loop thread only.
    [[nodiscard]] CancelLatencyStats cancel_latency_stats() const noexcept;

    // ---- testing the interleavings (docs/testing.md)

    /// Above 0, the ready queue runs equally-ready tasks in a shuffled order decided by `seed`
    /// (docs/testing.md): it runs in rounds — a round is every task ready when it starts, run
    /// in an order a deterministic PRNG (splitmix64, seeded by `seed`) draws; a task made ready
    /// during a round (woken, spawned, yielding) runs in a later round. The same seed and the
    /// same program give the same order. Kept: a yielding task still goes behind every task
    /// that was ready when it yielded (docs/semantics.md §3.8; it cannot starve the others) and
    /// the fairness bound of §7.1. Relaxed: the FIFO order of the rest — tasks spawned or woken
    /// together (§2.2's spawn order, the order in which a primitive's woken waiters run) may
    /// run in any order. 0 (the default) is FIFO, at no cost. Each call restarts the sequence.
    ///
    /// Completes when: at once (from the next round on). Suspension point: no.
    /// On cancel: not cancellable. Throws: nothing. Thread safety: loop thread only.
    void set_schedule_seed(std::uint64_t seed) noexcept;
    /// The seed set by `set_schedule_seed` (0: FIFO). At once; throws nothing; loop thread.
    [[nodiscard]] std::uint64_t schedule_seed() const noexcept;

private:
    friend struct detail::LoopAccess;
    void post_call(std::unique_ptr<detail::PostedCall> call);

    std::unique_ptr<detail::LoopCore> core_;
    std::unique_ptr<uv_loop_t> owned_;
    bool owned_closed_ = false;  // the owned uv_loop_t was closed (tear_down)
};

}  // namespace uvtask
