// uvtask — this_task: what the running task can ask about itself from code that cannot suspend.
#pragma once

#include <stop_token>
#include <string>

namespace uvtask::this_task {

/// True if the current task has a cancel request not yet delivered (docs/semantics.md §3.9): for a
/// callback, a loop that cannot suspend, or a legacy library to poll. False outside a task.
/// Not a suspension point; does not consume the request.
[[nodiscard]] bool cancel_requested() noexcept;

/// A `std::stop_token` of the current task, stop-requested when the task is cancelled (also from
/// another thread). Once requested it stays requested, even if the task refuses the cancel or
/// calls `uncancel()`: a stop token cannot be reset. Hand it to thread-pool work or legacy code.
/// Throws `InvalidStateError` outside a task.
[[nodiscard]] std::stop_token stop_token();

/// The current task's `cancelling()` count. Throws `InvalidStateError` outside a task.
[[nodiscard]] int cancelling();

/// Withdraws one of the current task's cancel requests (`TaskHandle::uncancel`). Returns the new
/// count. Throws `InvalidStateError` outside a task.
int uncancel();

/// The current task's name. Throws `InvalidStateError` outside a task.
[[nodiscard]] std::string name();

}  // namespace uvtask::this_task
