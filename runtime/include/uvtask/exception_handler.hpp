// uvtask — how the runtime reports failures that no task can receive.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <exception>
#include <functional>
#include <string>

namespace uvtask {

/// What the loop's exception handler is told: a detached task's failure that nobody retrieved,
/// a task destroyed while still pending, an exception thrown by a done callback… Like
/// asyncio's `loop.call_exception_handler(context)`. A plain value, built by the runtime on the
/// loop's thread and valid for the duration of the handler call (copy it to keep it).
struct ExceptionContext {
    std::string message;           ///< what happened, e.g. "Task exception was never retrieved"
    std::string task_name;         ///< the task concerned, empty if none
    std::exception_ptr exception;  ///< the exception concerned, may be null
};

/// Receives every `ExceptionContext` of a loop. Called on the loop's thread, never concurrently,
/// from code that cannot suspend (a plain function: no `co_await`). It must not throw: an
/// exception escaping it goes to `default_exception_handler` ("the loop's exception handler
/// threw"), which then reports the original context too, and is dropped.
using ExceptionHandler = std::function<void(const ExceptionContext&)>;

/// The handler a loop uses until `Loop::set_exception_handler` replaces it: one line on stderr
/// with the message, the task's name and the exception's text (a fixed line if even building
/// that line fails).
///
/// At once; not a suspension point; throws nothing; any thread (one `fprintf` to stderr).
void default_exception_handler(const ExceptionContext& context) noexcept;

namespace detail {
/// The exception's text as `default_exception_handler` prints it: "CancelledError(<message>)",
/// `what()`, or "unknown exception"; empty for a null `error`. At once; throws `std::bad_alloc`;
/// any thread.
[[nodiscard]] std::string describe_exception(const std::exception_ptr& error);
}  // namespace detail

}  // namespace uvtask
