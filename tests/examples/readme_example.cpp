// The README's example, as printed there (tests/examples/check_sigint.py also sends it a SIGINT).
#include <uvtask/uvtask.hpp>
#include <iostream>
using namespace std::chrono_literals;

uvtask::Task<std::string> worker() {
    try {
        co_await uvtask::sleep(10s);
        co_return "done";
    } catch (const uvtask::CancelledError& e) {
        co_return "stopped: " + e.message();  // refuse the cancel: return a value
    }
}

uvtask::Task<void> amain() {
    uvtask::TaskHandle<std::string> task = uvtask::spawn(worker());
    co_await uvtask::sleep(100ms);
    task.cancel("user pressed stop");
    std::string result = co_await task;
    std::cout << result << "\n";  // stopped: user pressed stop
}

int main() { uvtask::run(amain()); }
