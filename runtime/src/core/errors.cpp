// Error helpers: names, the default exception handler, cold throw paths.
#include <cxxabi.h>

#include <cstdio>
#include <exception>
#include <string>
#include <typeinfo>

#include "uvtask/errors.hpp"
#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask {

std::string_view to_string(CancelKind kind) noexcept {
    switch (kind) {
        case CancelKind::user: return "user";
        case CancelKind::timeout: return "timeout";
        case CancelKind::parent: return "parent";
        case CancelKind::shutdown: return "shutdown";
        case CancelKind::signal: return "signal";
    }
    return "unknown";
}

std::string detail::describe_exception(const std::exception_ptr& error) {
    if (!error) {
        return {};
    }
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError& e) {
        return "CancelledError(" + e.message() + ")";
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}

void default_exception_handler(const ExceptionContext& context) noexcept {
    try {
        std::string line = "uvtask: " + context.message;
        if (!context.task_name.empty()) {
            line += " (task '" + context.task_name + "')";
        }
        const std::string what = detail::describe_exception(context.exception);
        if (!what.empty()) {
            line += ": " + what;
        }
        std::fprintf(stderr, "%s\n", line.c_str());
    } catch (...) {
        std::fputs("uvtask: an error occurred and could not be described\n", stderr);
    }
}

namespace detail {

bool current_exception_is_cancel() noexcept {
    const std::type_info* type = abi::__cxa_current_exception_type();
    return type != nullptr && *type == typeid(CancelledError);
}

void throw_empty_task() {
    throw InvalidStateError("co_await on an empty Task (already awaited or spawned?)");
}

std::exception_ptr empty_task_error() noexcept {
    return std::make_exception_ptr(
        InvalidStateError("co_await on an empty Task (already awaited or spawned?)"));
}

std::exception_ptr propagate_of_value() noexcept {
    return std::make_exception_ptr(
        InvalidStateError("propagate(): the Outcome holds a value, not a cancellation or an "
                          "exception (return the value with co_return)"));
}

CancelledError cancellation_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError& cancel) {
        return cancel;  // a copy: the exception object is shared with whoever else holds `error`
    }
}

void throw_outside_task(const char* operation) {
    throw InvalidStateError(std::string(operation) +
                            " awaited outside a uvtask task (spawn it, or use run())");
}

void throw_invalid_duration(const char* operation, const char* why) {
    throw InvalidDurationError(std::string(operation) + ": the duration is " + why);
}

void throw_join_misuse(const TaskState& target, bool self_join) {
    if (self_join) {
        throw InvalidStateError("task '" + target.name() + "' awaits itself (it would never end)");
    }
    throw InvalidStateError("task '" + target.name() +
                            "' belongs to another loop: await it on its own loop's thread");
}

}  // namespace detail
}  // namespace uvtask
