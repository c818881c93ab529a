// Shielding: a task that must not be interrupted keeps running while the task waiting for it is
// cancelled. `co_await shield(task)` stops the cancel of the waiter from being passed on to
// `task` (a plain `co_await task` would pass it on, as in asyncio).
//
// Ported from the article "Python asyncio: How to prevent a task from being canceled"
// (Approach #1); durations are milliseconds instead of seconds. The article calls
// `task.cancel()` on the shielded task itself, which cancels it whatever the shield does; here
// the waiter is cancelled, which is the case shield() is for.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;
using uvtask::CancelledError;
using uvtask::Task;
using uvtask::TaskHandle;

namespace {

Task<std::string> long_running_task() {
    std::cout << "Task started\n";
    co_await uvtask::sleep(500ms);
    std::cout << "Task completed\n";
    co_return "saved";
}

// Waits for `task` through a shield.
Task<void> waiter(TaskHandle<std::string> task) {
    std::cout << "Waiter: awaiting shield(task)\n";
    try {
        std::string result = co_await uvtask::shield(task);
        std::cout << "Waiter: got " << result << "\n";
    } catch (const CancelledError&) {
        std::cout << "Waiter: cancelled; the shielded task runs on\n";
        throw;
    }
}

Task<void> amain() {
    TaskHandle<std::string> task = uvtask::spawn(long_running_task(), "long_running_task");
    TaskHandle<void> waiting = uvtask::spawn(waiter(task), "waiter");

    co_await uvtask::sleep(50ms);
    std::cout << "Main: cancelling the waiter\n";
    waiting.cancel();
    try {
        co_await waiting;
    } catch (const CancelledError&) {
        std::cout << "Main: waiter cancelled -> " << (waiting.cancelled() ? "true" : "false")
                  << ", task done -> " << (task.done() ? "true" : "false") << "\n";
    }

    std::string result = co_await task;
    std::cout << "Main: task result -> " << result << ", task cancelled -> "
              << (task.cancelled() ? "true" : "false") << "\n";
}

}  // namespace

int main() {
    uvtask::run(amain());
    return 0;
}
