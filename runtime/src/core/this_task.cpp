#include "uvtask/this_task.hpp"

#include "uvtask/errors.hpp"
#include "uvtask/detail/task_host.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::this_task {

namespace {
detail::TaskState& current(const char* what) {
    detail::TaskState* task = detail::current_task();
    if (task == nullptr) {
        throw InvalidStateError(std::string("this_task::") + what + "() called outside a task");
    }
    return *task;
}
}  // namespace

bool cancel_requested() noexcept {
    detail::TaskState* task = detail::current_task();
    return task != nullptr && task->cancel_requested();
}

std::stop_token stop_token() { return current("stop_token").stop_token(); }

int cancelling() { return current("cancelling").cancelling(); }

int uncancel() { return current("uncancel").uncancel(); }

std::string name() { return current("name").name(); }

}  // namespace uvtask::this_task
