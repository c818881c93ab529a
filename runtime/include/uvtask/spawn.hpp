// uvtask — spawn() and spawn_on(): schedule a Task as an independent task, on this thread's loop
// or on another loop from any thread.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <string>
#include <utility>

#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/spawned_task.hpp"

namespace uvtask {

class Loop;

namespace detail {

/// The loop `spawn_on(loop, …)` hands the task to; throws `InvalidStateError` if it is closed or
/// `task_valid` is false.
[[nodiscard]] LoopCore& loop_for_spawn_on(Loop& loop, bool task_valid);

/// A task state for `task` on `loop`, bound to the task's frame, with two references: the
/// loop's and the returned handle's. Not yet in the loop's queues. Any thread.
template <class T>
[[nodiscard]] TaskHandle<T> make_spawned(LoopCore& loop, Task<T>&& task, std::string&& name) {
    auto* state = SpawnedTask<T>::create(loop, std::move(name));  // one reference: the loop's
    auto frame = task.release();
    frame.promise().root_of = state;
    state->bind_frame(frame);
    state->add_handle_ref();  // the handle's
    return HandleAccess::adopt(state);
}

/// Ends a task that never started because its loop closed first (another thread's spawn_on).
[[noreturn]] void abandon_spawn_on(TaskState& state);

}  // namespace detail

/// Schedules `task` on this thread's loop and returns its handle (asyncio.create_task).
///
/// Completes when: at once; the body starts on a later turn of the ready queue, never inside
/// `spawn`. `name` defaults to "Task-N".
/// Suspension point: no.
/// On cancel: not cancellable itself; a task cancelled before its body first ran ends cancelled
/// without running it (asyncio).
/// Throws: `InvalidStateError` with no loop on this thread, on a closed loop, or for an empty
/// Task; `std::bad_alloc`.
/// Thread safety: on the loop's thread (use `spawn_on` from another thread).
template <class T>
TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
    detail::LoopCore& loop = detail::loop_for_spawn(task.valid());
    TaskHandle<T> handle = detail::make_spawned(loop, std::move(task), std::move(name));
    loop.adopt_new_task(detail::state_of(handle));
    return handle;
}

/// Schedules `callable(args…)` as a new task on this thread's loop, the callable and the
/// arguments kept alive (moved into the task) until the task ends — Asio's `co_spawn` with a
/// function object. The safe way to spawn a capturing lambda that is a coroutine:
/// `spawn([conn = std::move(conn)]() -> Task<void> { co_await serve(conn); })` — whereas
/// `spawn(lambda())` calls the lambda first, and a temporary lambda's captures die at the end
/// of that statement while its coroutine still refers to them (a silent use-after-free).
/// The callable is called on the task's first step, with the kept arguments as lvalues.
///
/// Completes when: at once; the callable is called when the task's body starts (a later turn).
/// Suspension point: no.
/// On cancel: as `spawn(task)`; a task cancelled before it started never calls the callable.
/// Throws: `InvalidStateError` with no loop on this thread or on a closed loop;
/// `std::bad_alloc`. What the callable throws ends the task with that exception.
/// Thread safety: on the loop's thread.
template <class F, class... Args>
    requires detail::TaskFactory<F, Args...>
TaskHandle<detail::factory_value_t<F, Args...>> spawn(F&& callable, Args&&... args) {
    return spawn(detail::call_owning(std::decay_t<F>(std::forward<F>(callable)),
                                     std::decay_t<Args>(std::forward<Args>(args))...));
}

/// Schedules `task` on `loop` — from any thread — and returns its handle at once.
///
/// Completes when: at once; the body starts on `loop`'s thread, on a later turn (after what
/// other threads posted to it before). On `loop`'s own thread it is `spawn`.
/// Suspension point: no.
/// On cancel: `cancel()` on the returned handle is safe from any thread at once; a task
/// cancelled before its body first ran ends cancelled without running it.
/// Throws: `InvalidStateError` if `loop` is closed (or closes before it takes the task in) or
/// `task` is empty; `std::bad_alloc`.
/// Thread safety: any thread. `loop` must outlive the call (the handle may outlive the loop:
/// once the loop has ended, the task is done and its result stays readable).
template <class T>
TaskHandle<T> spawn_on(Loop& loop, Task<T> task, std::string name = {}) {
    detail::LoopCore& core = detail::loop_for_spawn_on(loop, task.valid());
    TaskHandle<T> handle = detail::make_spawned(core, std::move(task), std::move(name));
    detail::SpawnedTask<T>* state = detail::state_of(handle);
    if (core.on_loop_thread()) {
        core.adopt_new_task(state);
    } else if (!core.post_start(state)) {
        detail::abandon_spawn_on(*state);
    }
    return handle;
}

}  // namespace uvtask
