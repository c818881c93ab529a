// A process with a time limit, like `asyncio.wait_for(slow_process(), timeout=...)`: the process
// is cancelled when the limit expires, and only once it has finished does the caller get a
// TimeoutError. A process that finishes in time returns its result.
//
// Ported from the asyncio article "How to Cancel Running asyncio Tasks Externally" (Advanced
// Usage); durations are milliseconds instead of seconds.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

using namespace std::chrono_literals;
using uvtask::CancelKind;
using uvtask::CancelledError;
using uvtask::Task;
using uvtask::TaskHandle;

namespace {

Task<std::string> slow_process(std::chrono::milliseconds duration) {
    std::cout << "[Process] Started\n";
    try {
        co_await uvtask::sleep(duration);
        co_return "Complete";
    } catch (const CancelledError& error) {
        // error.kind() tells a timeout from a stop button.
        std::cout << "[Process] Interrupted due to " << uvtask::to_string(error.kind()) << "\n";
        throw;  // re-raise, so that the time limit is seen as reached
    }
}

// ---- A stand-in for wait_for, built from spawn, a watchdog task and with_cleanup.
// TODO(issue 3): use wait_for

// Cancels `worker` (kind timeout) once `limit` has passed, unless it is cancelled first.
Task<void> watchdog(TaskHandle<std::string> worker, std::chrono::milliseconds limit,
                    std::shared_ptr<bool> fired) {
    co_await uvtask::sleep(limit);
    *fired = true;
    worker.cancel("time limit reached", CancelKind::timeout);
}

Task<std::string> join(TaskHandle<std::string> worker) {
    std::string result = co_await worker;
    co_return result;
}

// Stops the watchdog and waits for its end; run non-cancellably by with_cleanup.
Task<void> stop(TaskHandle<void> task) {
    task.cancel();
    try {
        co_await task;
    } catch (const CancelledError&) {
        // the watchdog's own cancellation: expected
    }
}

Task<std::string> with_time_limit(Task<std::string> work, std::chrono::milliseconds limit) {
    auto fired = std::make_shared<bool>(false);
    TaskHandle<std::string> worker = uvtask::spawn(std::move(work), "worker");
    TaskHandle<void> dog = uvtask::spawn(watchdog(worker, limit, fired), "watchdog");
    try {
        // Waits for the worker to end, however it ends: no orphan is left behind. If this task
        // is cancelled meanwhile, the cancel is passed on to the worker.
        std::string result = co_await uvtask::with_cleanup(join(worker), stop(dog));
        co_return result;
    } catch (const CancelledError&) {
        // Only the cancellation our watchdog caused becomes a TimeoutError; a cancel of this
        // task itself (cancelling() > 0) is never swallowed.
        if (*fired && uvtask::this_task::cancelling() == 0) {
            throw uvtask::TimeoutError("time limit reached");
        }
        throw;
    }
}

Task<void> amain() {
    // 3000 ms of work with a 100 ms limit: times out.
    try {
        std::string result = co_await with_time_limit(slow_process(3000ms), 100ms);
        std::cout << "Result: " << result << "\n";
    } catch (const uvtask::TimeoutError&) {
        std::cout << "Main: Timed out (Task already cancelled)\n";
    }

    // 20 ms of work with a 1000 ms limit: finishes in time.
    try {
        std::string result = co_await with_time_limit(slow_process(20ms), 1000ms);
        std::cout << "Result: " << result << "\n";
    } catch (const uvtask::TimeoutError&) {
        std::cout << "Main: Timed out (Task already cancelled)\n";
    }
}

}  // namespace

int main() {
    uvtask::run(amain());
    return 0;
}
