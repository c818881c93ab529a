// uvtask internals — the runtime's cold throw paths, out of line so that the hot paths stay small.
#pragma once

namespace uvtask::detail {

class TaskState;

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
