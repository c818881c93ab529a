// uvtask — LoopGroup: n loops on n threads (one per core by default), started and stopped
// together; tasks placed on the least-loaded loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "uvtask/loop.hpp"
#include "uvtask/run.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"

namespace uvtask {

class LoopGroup;

namespace detail {
/// `LoopGroup::run`: hands `main` (made for loop 0, not yet queued) to loop 0 together with its
/// SIGINT watch (if asked), waits until it is done, then shuts the group down.
void group_run_main(LoopGroup& group, TaskState& main);
}  // namespace detail

/// n uvtask loops, each on a thread of its own, started together by the constructor and stopped
/// together by `shutdown()` (or the destructor): a program's loop per core.
///
/// Each loop is an ordinary `Loop` (owning its `uv_loop_t`) that runs until the group stops,
/// waiting for work when it has none. Work reaches a loop from any thread through `spawn` (the
/// least-loaded loop), `spawn_on(group.loop(i), …)`, `group.loop(i).post(f)` and
/// `TaskHandle::cancel()`; a task joins a task of another loop with `co_await handle` (the
/// result is delivered on the awaiter's loop).
///
/// Shutdown, on every loop at once, with `run()`'s grace rule: every task left is cancelled
/// (kind `shutdown`, message "loop shutdown") and awaited up to `RunOptions::shutdown_grace`;
/// a loop whose tasks have all ended keeps running until every loop's have (or the grace is
/// over), so that what one loop's cleanup hands another is still taken in; then each loop
/// destroys what is left (each reported), closes its handles and its `uv_loop_t` on its own
/// thread, and the threads are joined. The Loop objects live as long as the group: once
/// stopped, `loop(i).post()` and `spawn_on(loop(i), …)` throw `InvalidStateError`.
///
/// Thread safety: every member is safe from any thread, except `shutdown()` (and the
/// destructor), which must not be called on one of the group's own threads (use
/// `request_stop()` there).
class LoopGroup {
public:
    /// One loop per core (`std::thread::hardware_concurrency()`, at least 1), default options.
    LoopGroup();
    /// `size` loops, with `options`' grace period, time slice, exception handler (called from
    /// the loops' threads, one call at a time) and, for `run()`, SIGINT handling.
    /// Throws `std::invalid_argument` if `size` is 0, `InvalidDurationError` for a negative
    /// duration in `options`, and what starting a thread or a loop throws
    /// (`std::system_error`, `InvalidStateError`, `std::bad_alloc`): the loops already
    /// started are stopped and joined first.
    explicit LoopGroup(std::size_t size, RunOptions options = {});
    LoopGroup(const LoopGroup&) = delete;
    LoopGroup& operator=(const LoopGroup&) = delete;
    /// `shutdown()`. On one of the group's own threads it reports the misuse and calls
    /// `std::terminate()` (it would wait for itself).
    ~LoopGroup();

    /// How many loops.
    [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }
    /// Loop `index` (0 ≤ index < size()). Throws `std::out_of_range`.
    [[nodiscard]] Loop& loop(std::size_t index) const;

    /// Spawns `task` on the loop with the fewest tasks not yet ended (ties go round the
    /// group) and returns its handle at once.
    ///
    /// Completes when: at once; the body starts on that loop's thread (see `spawn_on`).
    /// Suspension point: no.
    /// On cancel: not cancellable; the returned handle's `cancel()` is safe from any thread.
    /// Throws: `InvalidStateError` once the group is stopped or for an empty Task;
    /// `std::bad_alloc`.
    /// Thread safety: any thread.
    template <class T>
    TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
        return spawn_on(least_loaded(), std::move(task), std::move(name));
    }

    /// Runs `main` on loop 0 until it ends, then shuts the group down (`shutdown()`), and
    /// returns main's result or rethrows its exception (`CancelledError` if it ended
    /// cancelled), like `uvtask::run`. With `RunOptions::handle_sigint`, SIGINT cancels main
    /// (message "SIGINT", kind `signal`) and a second one kills the process; if main then ends
    /// cancelled, the group shuts down and the process ends by SIGINT, or `KeyboardInterrupt` is
    /// thrown with `exit_on_sigint = false` (`RunOptions::exit_on_sigint`, as `run()`). Unlike
    /// `uvtask::run`, it never reports a main task that can never finish: the other loops can
    /// always wake loop 0.
    ///
    /// Completes when: main has ended and the group has stopped.
    /// Suspension point: no (it blocks the calling thread, which must not be one of the
    /// group's).
    /// On cancel: not cancellable; `main`'s handle is not exposed — cancel it by stopping the
    /// group (`request_stop()`) or with SIGINT.
    /// Throws: what main threw; `KeyboardInterrupt` (above); `InvalidStateError` if the group
    /// is already stopped or this is one of its threads; `std::bad_alloc`.
    /// Thread safety: any thread but the group's.
    template <class T>
    T run(Task<T> main) {
        detail::LoopCore& first = detail::loop_for_spawn_on(loop(0), main.valid());
        TaskHandle<T> handle = detail::make_spawned(first, std::move(main), "main");
        detail::group_run_main(*this, *detail::state_of(handle));
        // Joined threads: loop 0's SIGINT flag is visible here.
        detail::end_if_interrupted(loop(0), *detail::state_of(handle), options_);
        if constexpr (std::is_void_v<T>) {
            handle.result();
        } else if constexpr (std::is_copy_constructible_v<T>) {
            return handle.result();
        } else {
            return detail::state_of(handle)->join_result();
        }
    }

    /// Asks every loop to shut down (see the class comment) and returns at once.
    /// Idempotent. Thread safety: any thread, the group's own included.
    void request_stop() noexcept;
    /// `request_stop()`, then waits until every loop has shut down and its thread is joined.
    /// Idempotent. Throws `InvalidStateError` on one of the group's own threads.
    void shutdown();
    /// True once `request_stop()` (or `shutdown()`) was called.
    [[nodiscard]] bool stop_requested() const noexcept;

private:
    struct Slot;
    friend void detail::group_run_main(LoopGroup& group, detail::TaskState& main);

    void start(std::size_t size);
    void body(std::size_t index) noexcept;
    void stop_and_join() noexcept;
    [[nodiscard]] Loop& least_loaded() const;
    [[nodiscard]] bool on_own_thread() const noexcept;

    std::vector<std::unique_ptr<Slot>> slots_;
    RunOptions options_;
    std::mutex handler_mutex_;                  // one exception handler call at a time
    mutable std::atomic<std::size_t> next_{0};  // where least_loaded() starts looking
    std::atomic<std::size_t> busy_{0};  // loops whose tasks have not all ended during shutdown
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;  // guards the slots' start-up state and `exited_`
    std::condition_variable changed_;
    std::size_t exited_ = 0;  // loop threads that have ended
};

}  // namespace uvtask
