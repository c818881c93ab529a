// Cancelling CPU-bound work. A loop that never suspends cannot be cancelled (in asyncio as in
// uvtask): the cancel waits for the next suspension point. Put a `co_await yield_now()` in the
// loop and it can: yield_now() lets the loop's timers and other tasks run, and throws
// CancelledError once the task was cancelled. (`checkpoint()` is the cheaper form for very tight
// loops: it yields only when the task has used its time slice, 1 ms by default.)
//
// The case the asyncio article says needs `await asyncio.sleep(0)` in the loop; durations are
// milliseconds.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>

using namespace std::chrono_literals;
using uvtask::CancelledError;
using uvtask::Task;

namespace {

bool is_prime(std::uint64_t n) {
    if (n < 2) {
        return false;
    }
    for (std::uint64_t d = 2; d * d <= n; ++d) {
        if (n % d == 0) {
            return false;
        }
    }
    return true;
}

// Counts the primes below `limit` (far more work than the few ms it is given); `found` is
// where it reports how far it got.
Task<std::uint64_t> count_primes(std::uint64_t limit, std::shared_ptr<std::uint64_t> found) {
    std::cout << "[Worker] Counting primes below " << limit << "...\n";
    try {
        for (std::uint64_t n = 2; n < limit; ++n) {
            if (is_prime(n)) {
                ++*found;
            }
            co_await uvtask::yield_now();  // the suspension point that makes it cancellable
        }
    } catch (const CancelledError&) {
        // The count depends on the machine's speed; print only whether there was progress.
        std::cout << "[Worker] Interrupted "
                  << (*found > 0 ? "after making progress" : "before finding a prime") << "\n";
        throw;
    }
    std::cout << "[Worker] Finished\n";
    co_return *found;
}

Task<void> amain() {
    auto found = std::make_shared<std::uint64_t>(0);
    uvtask::TaskHandle<std::uint64_t> task =
        uvtask::spawn(count_primes(100'000'000, found), "count_primes");

    co_await uvtask::sleep(20ms);  // the worker computes meanwhile, yielding as it goes
    std::cout << "Main: cancelling the CPU-bound task\n";
    task.cancel("enough");
    try {
        std::uint64_t count = co_await task;
        std::cout << "Main: the task finished with " << count << " primes\n";
    } catch (const CancelledError& error) {
        std::cout << "Main: task cancelled (" << error.message() << ") -> "
                  << (task.cancelled() ? "true" : "false") << "\n";
    }
}

}  // namespace

int main() {
    uvtask::run(amain());
    return 0;
}
