// The heavy worker, cancelled by main after a moment. The worker catches CancelledError, cleans
// up and returns "Canceled": refusing the cancellation, so its result is a value, not an error.
//
// Ported from the asyncio article "How to Cancel Running asyncio Tasks Externally"; durations
// are milliseconds instead of seconds.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;
using uvtask::CancelledError;
using uvtask::Task;

namespace {

// A long-running process (5 s) that handles its cancellation.
Task<std::string> heavy_worker() {
    std::cout << "[Worker] Task started. Executing heavy process...\n";
    try {
        // If the task is cancelled during this sleep, CancelledError is thrown here.
        co_await uvtask::sleep(5000ms);
        std::cout << "[Worker] Process completed normally.\n";
        co_return "Done";
    } catch (const CancelledError&) {
        std::cout << "[Worker] Cancellation notice received. Interrupting process.\n";
        // Returning a value ends the task normally; `throw;` would hand the error to its awaiter.
        co_return "Canceled";
    }
}

Task<void> amain() {
    std::cout << "--- Main Process Started ---\n";
    // Starts on the next turn of the loop, as soon as main suspends.
    uvtask::TaskHandle<std::string> task = uvtask::spawn(heavy_worker(), "heavy_worker");

    // Let the worker make some progress.
    co_await uvtask::sleep(100ms);

    std::cout << ">>> Main: Requesting task cancellation...\n";
    task.cancel();

    try {
        std::string status = co_await task;
        std::cout << "Main: Task result -> " << status << "\n";
    } catch (const CancelledError&) {
        // Reached only if the worker lets CancelledError escape (see heavy_worker_reraise).
        std::cout << "Main: Task raised a cancellation exception\n";
    }
    std::cout << "--- Main Process Finished ---\n";
}

}  // namespace

int main() {
    uvtask::run(amain());
    return 0;
}
