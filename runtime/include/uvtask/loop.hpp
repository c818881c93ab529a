// uvtask — Loop: the per-thread scheduler over a uv_loop_t (owned, or adopted from the app).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

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

private:
    friend struct detail::LoopAccess;
    void post_call(std::unique_ptr<detail::PostedCall> call);

    std::unique_ptr<detail::LoopCore> core_;
    std::unique_ptr<uv_loop_t> owned_;
    bool owned_closed_ = false;  // the owned uv_loop_t was closed (tear_down)
};

}  // namespace uvtask
