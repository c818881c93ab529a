// What the runtime tells people looking at a running program about a task: the swallowed-cancel
// report (and every report of a task through its loop), readable type names for
// `Operation::describe()`.
#include "uvtask/detail/task_trace.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

std::string readable_type_name(const std::type_info& type) {
    int status = 0;
    // __cxa_demangle mallocs the result (freed by the unique_ptr); null if it fails.
    std::unique_ptr<char, void (*)(void*)> name(
        abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free);
    return status == 0 && name != nullptr ? std::string(name.get()) : std::string(type.name());
}

void TaskState::report(const ExceptionContext& context) const noexcept {
    TaskHost* here = tls_current_host;
    if (here != nullptr && here->id() == loop_id_) {
        here->report(context);
    } else {
        default_exception_handler(context);
    }
}

void TaskState::report_error(const char* message, std::exception_ptr error) const noexcept {
    try {
        report({message, name(), std::move(error)});
    } catch (...) {
        default_exception_handler({message, {}, nullptr});  // out of memory for the name
    }
}

void TaskState::report_if_swallowed() const noexcept {
    // A cancel was delivered (thrown, or returned as an Outcome) and is still counted: not
    // withdrawn by a scope, not uncancel()ed. A request made since the last delivery and never
    // delivered is not counted (`handled_cancelling`): the task did not see it.
    if (deliveries() == 0 || handled_cancelling() <= 0) {
        return;
    }
    report_error(
        "Task swallowed a cancellation: it received CancelledError, neither re-raised it nor "
        "called uncancel(), and returned normally",
        nullptr);
}

}  // namespace uvtask::detail
