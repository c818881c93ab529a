// wait_signal(): POSIX signals through uv_signal_t (SIGUSR1/SIGUSR2 raised by the test itself).
#include <uvtask/signal.hpp>

#include <doctest/doctest.h>

#include <csignal>

#include "io_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::run_test;

namespace {
Task<int> wait_for_signal(int signum) {
    const int received = co_await wait_signal(signum);
    co_return received;
}
}  // namespace

TEST_SUITE("signal") {
    TEST_CASE("wait_signal returns the signal once it is raised") {
        run_test([]() -> Task<void> {
            auto waiting = spawn(wait_for_signal(SIGUSR1));
            co_await yield_now();  // the watcher is installed
            std::raise(SIGUSR1);
            const int received = co_await waiting;
            CHECK(received == SIGUSR1);
        }());
    }

    TEST_CASE("several tasks waiting for the same signal all wake") {
        run_test([]() -> Task<void> {
            auto first = spawn(wait_for_signal(SIGUSR2));
            auto second = spawn(wait_for_signal(SIGUSR2));
            co_await yield_now();
            std::raise(SIGUSR2);
            const int a = co_await first;
            const int b = co_await second;
            CHECK(a == SIGUSR2);
            CHECK(b == SIGUSR2);
        }());
    }

    TEST_CASE("a cancelled wait_signal throws CancelledError and a later wait still works") {
        run_test([]() -> Task<void> {
            auto waiting = spawn(wait_for_signal(SIGUSR1));
            co_await yield_now();
            waiting.cancel();
            CHECK_THROWS_AS(co_await waiting, CancelledError);
            auto again = spawn(wait_for_signal(SIGUSR1));
            co_await yield_now();
            std::raise(SIGUSR1);
            const int received = co_await again;
            CHECK(received == SIGUSR1);
        }());
    }

    TEST_CASE("a signal delivered before the cancel reached the wait is returned") {
        run_test([]() -> Task<void> {
            auto waiting = spawn([]() -> Task<bool> {
                const int received = co_await wait_signal(SIGUSR1);
                co_return received == SIGUSR1 && this_task::cancel_requested();
            }());
            co_await yield_now();
            CancelAfterCompletion canceller(waiting);
            std::raise(SIGUSR1);
            const bool received_then_cancelled = co_await waiting;
            CHECK(canceller.fired());
            CHECK(received_then_cancelled);
        }());
    }

    TEST_CASE("waiting for a signal that cannot be caught is an IoError EINVAL") {
        run_test([]() -> Task<void> {
            int status = 0;
            try {
                (void)co_await wait_signal(SIGKILL);
            } catch (const IoError& error) {
                status = error.uv_status();
                CHECK(error.operation() == "wait_signal");
            }
            CHECK(status == UV_EINVAL);
            CHECK_THROWS_AS((void)co_await wait_signal(0), IoError);
        }());
    }
}
