// A process with a time limit, `uvtask::wait_for(slow_process(), timeout)` like
// `asyncio.wait_for`: the process runs as its own task; it is cancelled (kind timeout) when the
// limit expires, and only once it has finished does the caller get a TimeoutError — nothing is
// left running. A process that finishes in time returns its result. A cancel of the caller itself
// is passed on to the process and comes back as CancelledError, never as a TimeoutError.
//
// Ported from the asyncio article "How to Cancel Running asyncio Tasks Externally" (Advanced
// Usage); durations are milliseconds instead of seconds.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;
using uvtask::CancelledError;
using uvtask::Task;

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

Task<void> amain() {
    // 3000 ms of work with a 100 ms limit: times out.
    try {
        std::string result = co_await uvtask::wait_for(slow_process(3000ms), 100ms);
        std::cout << "Result: " << result << "\n";
    } catch (const uvtask::TimeoutError&) {
        std::cout << "Main: Timed out (Task already cancelled)\n";
    }

    // 20 ms of work with a 1000 ms limit: finishes in time.
    try {
        std::string result = co_await uvtask::wait_for(slow_process(20ms), 1000ms);
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
