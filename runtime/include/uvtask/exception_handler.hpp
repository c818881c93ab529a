// uvtask — how the runtime reports failures that no task can receive.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <exception>
#include <functional>
#include <string>

namespace uvtask {

/// What the loop's exception handler is told: a detached task's failure that nobody retrieved,
/// a task destroyed while still pending, an exception thrown by a done callback… Like
/// asyncio's `loop.call_exception_handler(context)`.
struct ExceptionContext {
    std::string message;           ///< what happened, e.g. "Task exception was never retrieved"
    std::string task_name;         ///< the task concerned, empty if none
    std::exception_ptr exception;  ///< the exception concerned, may be null
};

/// Receives every `ExceptionContext` of a loop. Called on the loop's thread, never concurrently;
/// it must not throw (an exception escaping it is dropped after the default report).
using ExceptionHandler = std::function<void(const ExceptionContext&)>;

/// The handler a loop uses until `Loop::set_exception_handler` replaces it: one line on stderr
/// with the message, the task's name and the exception's text.
void default_exception_handler(const ExceptionContext& context) noexcept;

}  // namespace uvtask
