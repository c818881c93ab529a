// A consumer of an installed (or subproject) uvtask: a task cancelled from outside cleans up,
// and the program prints what happened. Built by tests/packaging/run against each packaging.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

uvtask::Task<std::string> worker() {
    try {
        co_await uvtask::sleep(std::chrono::seconds(10));
    } catch (const uvtask::CancelledError& e) {
        co_return "cleaned up after: " + std::string(e.what());
    }
    co_return "not cancelled";
}

uvtask::Task<int> amain() {
    uvtask::TaskHandle<std::string> task = uvtask::spawn(worker(), "worker");
    co_await uvtask::sleep(std::chrono::milliseconds(1));
    task.cancel("stop");
    const std::string result = co_await task;
    std::printf("%s (C++ %ld)\n", result.c_str(), static_cast<long>(__cplusplus));
    co_return 0;
}

}  // namespace

int main() { return uvtask::run(amain()); }
