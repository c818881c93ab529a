// Ctrl-C, as a terminal user expects it: SIGINT cancels the main task; every task cleans up
// (the worker main awaits receives the cancel through the join, the other one at shutdown);
// then the process ends the way Ctrl-C ends a program — killed by SIGINT, no abort.
// With --handle the program handles Ctrl-C itself: run() throws KeyboardInterrupt after the
// same clean shutdown, and main returns 130.
// Run by tests/examples/check_sigint.py, which sends the SIGINT once "ready" is printed.
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>

namespace {

using namespace std::chrono_literals;

const char* kind_name(uvtask::CancelKind kind) {
    switch (kind) {
        case uvtask::CancelKind::signal:
            return "signal";
        case uvtask::CancelKind::shutdown:
            return "shutdown";
        default:
            return "other";
    }
}

uvtask::Task<void> worker(std::string name) {
    try {
        for (;;) {
            co_await uvtask::sleep(1h);
        }
    } catch (const uvtask::CancelledError& e) {
        std::cout << name << ": cleaned up (" << kind_name(e.kind()) << ": " << e.message()
                  << ")" << std::endl;
        throw;
    }
}

uvtask::Task<void> amain() {
    uvtask::TaskHandle<void> first = uvtask::spawn(worker("first"), "first");
    uvtask::TaskHandle<void> second = uvtask::spawn(worker("second"), "second");
    co_await uvtask::yield_now();  // both workers are waiting now
    std::cout << "ready" << std::endl;
    co_await first;
    co_await second;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--handle") == 0) {
        uvtask::RunOptions options;
        options.exit_on_sigint = false;
        try {
            uvtask::run(amain(), options);
        } catch (const uvtask::KeyboardInterrupt& e) {
            std::cout << "main: " << e.what() << ", exiting with 130" << std::endl;
            return 130;
        }
        return 0;
    }
    uvtask::run(amain());
    return 0;
}
