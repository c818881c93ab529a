// uvtask — spawn(): schedule a Task on the current loop as an independent task.
#pragma once

#include <string>
#include <utility>

#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/spawned_task.hpp"

namespace uvtask {

namespace detail {
/// The loop `spawn` uses: the thread's current one; throws `InvalidStateError` if there is none
/// or it is closed, or if `task` is empty.
[[nodiscard]] LoopCore& loop_for_spawn(bool task_valid);
}  // namespace detail

/// Schedules `task` on this thread's loop and returns its handle (asyncio.create_task). The body
/// starts on a later turn of the ready queue, never inside `spawn`. A task cancelled before its
/// body first ran ends cancelled without running it. `name` defaults to "Task-N".
/// Throws `InvalidStateError` with no loop on this thread, on a closed loop, or for an empty
/// Task. Not a suspension point.
template <class T>
TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
    detail::LoopCore& loop = detail::loop_for_spawn(task.valid());
    auto* state = detail::SpawnedTask<T>::create(loop, std::move(name));
    auto frame = task.release();
    frame.promise().root_of = state;
    state->bind_frame(frame);
    state->add_ref();  // the handle's
    loop.adopt_new_task(state);
    return TaskHandle<T>::adopt(state);
}

}  // namespace uvtask
