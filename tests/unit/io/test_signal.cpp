// wait_signal() and SignalReceiver: POSIX signals through the loop's uv_signal_t registrations
// (SIGUSR1/SIGUSR2/SIGHUP raised by the test itself; the one that could kill the process runs in
// a forked child).
#include <uvtask/signal.hpp>

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <thread>

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

Task<int> receive_from(SignalReceiver* receiver) {
    const int received = co_await receiver->receive();
    co_return received;
}

/// Runs `body` (returning an exit code) in a forked child; returns the child's wait status.
template <class Body>
int in_child(Body body) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        int code = 2;
        try {
            code = body();
        } catch (...) {
            code = 3;
        }
        std::_Exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
}

/// The reload loop of a server: waits for SIGHUP twice; the second SIGHUP is raised during the
/// first "reload", when no task waits for it.
Task<void> reload_twice(int* reloads) {
    for (int i = 0; i < 2; ++i) {
        (void)co_await wait_signal(SIGHUP);
        ++*reloads;
        if (i == 0) {
            std::raise(SIGHUP);    // arrives now, between two waits
            co_await yield_now();  // the reload: the loop polls (and sees the signal) meanwhile
        }
    }
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
                co_return received == SIGUSR1&& this_task::cancel_requested();
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

    TEST_CASE(
        "a second SIGHUP arriving between two wait_signal calls is kept for the next wait, "
        "never the death of the process") {
        const int status = in_child([] {
            int reloads = 0;
            RunOptions options;
            options.handle_sigint = false;
            uvtask::run(
                [](int* r) -> Task<void> {
                    auto server = spawn(reload_twice(r));
                    co_await yield_now();  // the server waits for SIGHUP
                    std::raise(SIGHUP);
                    co_await server;
                }(&reloads),
                options);
            return reloads == 2 ? 0 : 1;
        });
        CHECK_FALSE(WIFSIGNALED(status));  // the old code: killed by SIGHUP (exit 129)
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }

    TEST_CASE("a signal that arrived while no task waited is returned at once by the next wait") {
        run_test([]() -> Task<void> {
            auto first = spawn(wait_for_signal(SIGUSR1));
            co_await yield_now();
            std::raise(SIGUSR1);
            const int received = co_await first;
            CHECK(received == SIGUSR1);
            SignalReceiver witness({SIGUSR1});
            std::raise(SIGUSR1);  // nobody waits in wait_signal now
            auto seen = [&] { return witness.pending() == 1; };
            co_await uvtask::testing::until(seen);           // the loop has handled it
            const int kept = co_await wait_signal(SIGUSR1);  // would hang if it had been dropped
            CHECK(kept == SIGUSR1);
        }());
    }

    TEST_CASE("a task waiting only for a signal keeps the loop alive until it arrives") {
        run_test([]() -> Task<void> {
            auto first = spawn(wait_for_signal(SIGUSR2));
            co_await yield_now();
            std::raise(SIGUSR2);  // installs the loop's registration for SIGUSR2
            (void)co_await first;
            // From another thread, later: the loop must not think nothing can wake the waiter.
            std::thread sender([] {
                std::this_thread::sleep_for(20ms);
                ::kill(::getpid(), SIGUSR2);
            });
            const int received = co_await wait_signal(SIGUSR2);
            sender.join();
            CHECK(received == SIGUSR2);
        }());  // run_test fails on a "deadlock" if the waiting task did not keep the loop alive
    }

    TEST_CASE("a SignalReceiver queues the signals that arrive between two receives, in order") {
        run_test([]() -> Task<void> {
            SignalReceiver receiver({SIGUSR1, SIGUSR2});
            CHECK(receiver.is_open());
            std::raise(SIGUSR2);
            std::raise(SIGUSR1);
            std::raise(SIGUSR2);  // coalesced with the SIGUSR2 already queued
            auto all = [&] { return receiver.pending() == 2; };
            co_await uvtask::testing::until(all);
            const int first = co_await receiver.receive();
            const int second = co_await receiver.receive();
            CHECK(first == SIGUSR2);
            CHECK(second == SIGUSR1);
            CHECK(receiver.pending() == 0);
            // Raised while a task waits: delivered to it.
            auto waiting = spawn(receive_from(&receiver));
            co_await yield_now();
            std::raise(SIGUSR1);
            const int third = co_await waiting;
            CHECK(third == SIGUSR1);
        }());
    }

    TEST_CASE("a cancelled SignalReceiver::receive loses no signal: the next receive gets it") {
        run_test([]() -> Task<void> {
            SignalReceiver receiver({SIGUSR1});
            auto waiting = spawn(receive_from(&receiver));
            co_await yield_now();
            waiting.cancel();
            CHECK_THROWS_AS(co_await waiting, CancelledError);
            std::raise(SIGUSR1);
            const int received = co_await receiver.receive();
            CHECK(received == SIGUSR1);
        }());
    }

    TEST_CASE("a signal delivered to a receive before the cancel reached it is returned") {
        run_test([]() -> Task<void> {
            SignalReceiver receiver({SIGUSR2});
            auto waiting = spawn([](SignalReceiver* r) -> Task<bool> {
                const int received = co_await r->receive();
                co_return received == SIGUSR2&& this_task::cancel_requested();
            }(&receiver));
            co_await yield_now();
            CancelAfterCompletion canceller(waiting);
            std::raise(SIGUSR2);
            const bool received_then_cancelled = co_await waiting;
            CHECK(canceller.fired());
            CHECK(received_then_cancelled);
        }());
    }

    TEST_CASE("a receiver and wait_signal both get the same signal") {
        run_test([]() -> Task<void> {
            SignalReceiver receiver({SIGUSR1});
            auto waiting = spawn(wait_for_signal(SIGUSR1));
            co_await yield_now();
            std::raise(SIGUSR1);
            const int waited = co_await waiting;
            const int received = co_await receiver.receive();
            CHECK(waited == SIGUSR1);
            CHECK(received == SIGUSR1);
        }());
    }

    TEST_CASE("SignalReceiver misuse: an invalid signal, two receiving tasks, a closed receiver") {
        run_test([]() -> Task<void> {
            int status = 0;
            try {
                SignalReceiver bad({SIGUSR1, SIGKILL});
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EINVAL);
            SignalReceiver receiver({SIGUSR2});
            auto first = spawn(receive_from(&receiver));
            co_await yield_now();
            CHECK_THROWS_AS(co_await receiver.receive(), InvalidStateError);
            receiver.close();
            status = 0;
            try {
                (void)co_await first;
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_ECANCELED);
            status = 0;
            try {
                (void)co_await receiver.receive();
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EBADF);
            SignalReceiver empty;
            CHECK_FALSE(empty.is_open());
            CHECK_THROWS_AS(co_await empty.receive(), IoError);
        }());
    }

    TEST_CASE("tasks left waiting for signals end cancelled, leaking nothing") {
        run_test([]() -> Task<void> {
            (void)spawn(wait_for_signal(SIGUSR1));
            (void)spawn([]() -> Task<void> {
                SignalReceiver receiver({SIGUSR2, SIGHUP});
                (void)co_await receiver.receive();
            }());
            co_await sleep(5ms);
        }());  // run_test cancels them and checks uv_loop_close == 0
    }
}
