// Refusing a cancellation: the task catches CancelledError and carries on, does its cleanup
// with a further sleep (it runs normally: one CancelledError per cancel request), then finishes.
//
// Ported from the article "Python asyncio: How to prevent a task from being canceled"
// (Approach #2); durations are milliseconds instead of seconds. Instead of sleeping long enough
// "to give time for cleanup", main awaits the task.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using uvtask::CancelledError;
using uvtask::Task;

namespace {

Task<void> resilient_task() {
    std::cout << "Task started\n";
    bool cancelled = false;
    try {
        co_await uvtask::sleep(10000ms);
    } catch (const CancelledError&) {
        std::cout << "Caught cancellation, will not stop.\n";
        cancelled = true;  // C++ forbids co_await in a catch block: act after it
    }
    if (cancelled) {
        co_await uvtask::sleep(100ms);
        std::cout << "Cleanup done\n";
    }
}

Task<void> amain() {
    uvtask::TaskHandle<void> task = uvtask::spawn(resilient_task(), "resilient_task");
    co_await uvtask::sleep(50ms);
    std::cout << "Main: cancelling the task\n";
    task.cancel();
    co_await task;  // the task refused: it ends normally, so this does not throw
    // The request stays counted until someone calls uncancel().
    std::cout << "Main: task cancelled() -> " << (task.cancelled() ? "true" : "false")
              << ", cancelling() -> " << task.cancelling() << "\n";
    std::cout << "Main completed\n";
}

}  // namespace

int main() {
    uvtask::run(amain());
    return 0;
}
