// uvtask — the exceptions the runtime throws.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <stdexcept>
#include <string>
#include <string_view>

namespace uvtask {

/// Who asked for a cancellation. Carried by every `CancelledError` so a handler can tell a
/// timeout from a stop button.
enum class CancelKind : unsigned char {
    user,      ///< `TaskHandle::cancel()` called by application code.
    timeout,   ///< a deadline (`wait_for`, `with_timeout`, `move_on_after`) expired.
    parent,    ///< a parent scope (task group, gather, race) cancelled its children.
    shutdown,  ///< `run()` or a `Loop` is shutting down and cancels what is left.
    signal,    ///< a signal (SIGINT during `run()`) asked the program to stop.
};

/// The name of a kind, e.g. "timeout" ("unknown" for a value outside the enum).
/// At once; not a suspension point; throws nothing; any thread.
[[nodiscard]] std::string_view to_string(CancelKind kind) noexcept;

/// Thrown into a task at its next suspension point after it was cancelled (docs/semantics.md §3).
///
/// Deliberately **not** derived from `std::exception`, so `catch (const std::exception&)` cannot
/// swallow a cancellation (Python 3.8 moved `asyncio.CancelledError` to `BaseException` for the
/// same reason). A `catch (...)` still catches it: such a block must end with `throw;` unless it
/// means to refuse. Catch it by type, clean up, and rethrow with `throw;` — or return a value to
/// refuse the cancellation. A plain value (copyable, no shared state); any thread.
class CancelledError final {
public:
    /// An error carrying `message` and `kind`. Normally thrown by the runtime; constructing and
    /// throwing one yourself is not a cancel request (nothing is counted in `cancelling()`).
    /// At once; not a suspension point; throws nothing itself (the message is moved in);
    /// any thread.
    explicit CancelledError(std::string message = {}, CancelKind kind = CancelKind::user)
        : message_(std::move(message)), kind_(kind) {}

    /// The message given to `cancel(msg)`; the latest request's message wins.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const std::string& message() const noexcept { return message_; }
    /// Who asked: user, timeout, parent, shutdown or signal.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] CancelKind kind() const noexcept { return kind_; }
    /// The message, for code that prints exceptions generically.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const char* what() const noexcept { return message_.c_str(); }

private:
    std::string message_;
    CancelKind kind_;
};

/// Thrown by `run()` when a SIGINT (Ctrl-C) ended the main task and the application asked to
/// handle it itself (`RunOptions::exit_on_sigint = false`), after the clean shutdown: every
/// task cancelled and awaited, the loop closed. Python's `KeyboardInterrupt`, and like it (and
/// like `CancelledError`) not derived from `std::exception`, so a handler written for ordinary
/// failures does not take it for one. A plain value; any thread.
class KeyboardInterrupt final {
public:
    /// "SIGINT: interrupted". At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const char* what() const noexcept { return "SIGINT: interrupted"; }
};

/// A deadline expired (`wait_for`, `with_timeout`). Derives from `std::runtime_error`. A plain
/// value; any thread.
class TimeoutError : public std::runtime_error {
public:
    /// The error with the message given. At once; throws `std::bad_alloc` only; any thread.
    using std::runtime_error::runtime_error;
    /// "operation timed out". At once; throws `std::bad_alloc` only; any thread.
    TimeoutError() : std::runtime_error("operation timed out") {}
};

/// Misuse of the runtime: `result()` before a task is done, a task awaiting its own handle,
/// spawning with no loop, awaiting a uvtask awaitable outside a task… A plain
/// value (`std::logic_error`); any thread.
class InvalidStateError : public std::logic_error {
public:
    /// The error with the message given. At once; throws `std::bad_alloc` only; any thread.
    using std::logic_error::logic_error;
};

/// A duration or time argument the runtime cannot honour: negative or NaN. Thrown at the call
/// that takes the duration (not at its `co_await`). A plain value (`std::invalid_argument`);
/// any thread.
class InvalidDurationError : public std::invalid_argument {
public:
    /// The error with the message given. At once; throws `std::bad_alloc` only; any thread.
    using std::invalid_argument::invalid_argument;
};

}  // namespace uvtask
