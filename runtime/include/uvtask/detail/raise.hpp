// uvtask internals — the runtime's cold throw paths, out of line so that the hot paths stay small.
#pragma once

#include <exception>

namespace uvtask {
class CancelledError;
}  // namespace uvtask

namespace uvtask::detail {

class TaskState;

/// Throws the `InvalidStateError` of awaiting an empty Task.
[[noreturn]] void throw_empty_task();
/// The same error, as an exception object (no throw).
[[nodiscard]] std::exception_ptr empty_task_error() noexcept;
/// The `CancelledError` inside `error` (a thrown one that escaped a coroutine), read back by
/// one rethrow: the mixed path of docs/zero-exception.md.
[[nodiscard]] CancelledError cancellation_of(const std::exception_ptr& error);

/// True when the exception being handled right now is a `CancelledError` (no rethrow needed).
[[nodiscard]] bool current_exception_is_cancel() noexcept;

/// Throws the `InvalidStateError` for a uvtask awaitable awaited outside a uvtask task.
[[noreturn]] void throw_outside_task(const char* operation);

/// Throws the `InvalidDurationError` for a negative or NaN duration (`why`: "negative", "NaN").
[[noreturn]] void throw_invalid_duration(const char* operation, const char* why);

/// Throws the `InvalidStateError` for a join of `target` that cannot be: a task awaiting itself
/// (`self_join`), or a task of another loop.
[[noreturn]] void throw_join_misuse(const TaskState& target, bool self_join);

}  // namespace uvtask::detail
