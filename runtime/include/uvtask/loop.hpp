// uvtask — Loop: the per-thread scheduler over a uv_loop_t (owned, or adopted from the app).
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "uvtask/errors.hpp"
#include "uvtask/exception_handler.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask {

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
/// own handles are untouched). Not thread-safe except through `TaskHandle::cancel()`.
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

    /// This thread's Loop, or null.
    [[nodiscard]] static Loop* current() noexcept;
    /// The underlying libuv loop.
    [[nodiscard]] uv_loop_t* native() const noexcept;

    /// `spawn(task, name)` on this loop (which is this thread's current one).
    template <class T>
    TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
        return uvtask::spawn(std::move(task), std::move(name));
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

    /// Runtime use.
    [[nodiscard]] detail::LoopCore& core() noexcept { return *core_; }
    /// Runtime use: `run()` closed the owned uv_loop_t itself.
    void mark_closed() noexcept { owned_closed_ = true; }

private:
    std::unique_ptr<detail::LoopCore> core_;
    std::unique_ptr<uv_loop_t> owned_;
    bool owned_closed_ = false;
};

}  // namespace uvtask
