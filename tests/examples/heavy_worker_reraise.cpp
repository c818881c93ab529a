// The heavy worker again, but re-raising: it catches CancelledError only to clean up, then
// rethrows it with `throw;`, so the task ends cancelled and main's `co_await` sees the error,
// with the message given to cancel().
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

Task<std::string> heavy_worker() {
    std::cout << "[Worker] Task started. Executing heavy process...\n";
    try {
        co_await uvtask::sleep(5000ms);
        std::cout << "[Worker] Process completed normally.\n";
        co_return "Done";
    } catch (const CancelledError& error) {
        std::cout << "[Worker] Cancellation notice received (" << error.message()
                  << "). Cleaning up and re-raising.\n";
        throw;  // the task ends cancelled; its awaiter gets CancelledError
    }
}

Task<void> amain() {
    std::cout << "--- Main Process Started ---\n";
    uvtask::TaskHandle<std::string> task = uvtask::spawn(heavy_worker(), "heavy_worker");

    co_await uvtask::sleep(100ms);

    std::cout << ">>> Main: Requesting task cancellation...\n";
    task.cancel("stop button pressed");

    try {
        std::string status = co_await task;
        std::cout << "Main: Task result -> " << status << "\n";
    } catch (const CancelledError& error) {
        // CancelledError is not a std::exception: `catch (const std::exception&)` cannot
        // swallow it by accident.
        std::cout << "Main: Task raised a cancellation exception (" << error.message() << ", kind "
                  << uvtask::to_string(error.kind()) << ")\n";
    }
    std::cout << "Main: task.cancelled() -> " << (task.cancelled() ? "true" : "false") << "\n";
    std::cout << "--- Main Process Finished ---\n";
}

}  // namespace

int main() {
    uvtask::run(amain());
    return 0;
}
