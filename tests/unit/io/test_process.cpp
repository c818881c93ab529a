// Processes: spawn_process with stdio pipes, wait(), termination on cancel (no zombies).
#include <uvtask/process.hpp>

#include <doctest/doctest.h>
#include <signal.h>

#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <string>

#include "io_test_support.hpp"
#include "tcp_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::read_to_end;
using uvtask::testing::run_test;

namespace {

Task<ExitStatus> wait_for_exit(Process* process) {
    const ExitStatus status = co_await process->wait();
    co_return status;
}

/// Reaped: the pid no longer exists (a zombie would still answer kill(pid, 0)).
bool reaped(int pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

ProcessOptions piped_stdout() {
    ProcessOptions options;
    options.stdout_mode = StdioMode::pipe;
    return options;
}

/// A child that ignores SIGTERM and says "ready" once its trap is in place.
Process spawn_stubborn_child(std::chrono::milliseconds grace) {
    ProcessOptions options = piped_stdout();
    options.grace_period = grace;
    // exec keeps the ignored disposition: sleep ignores SIGTERM too.
    return spawn_process({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"}, options);
}

/// Whether `pid` is gone (reaped); if not, kills and reaps it so that no test leaves it behind.
bool gone_or_cleaned_up(int pid) {
    if (reaped(pid)) {
        return true;
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return false;
}

}  // namespace

TEST_SUITE("process") {
    TEST_CASE("a child's stdout is read through a pipe and wait returns its exit status") {
        run_test([]() -> Task<void> {
            Process child = spawn_process({"sh", "-c", "echo hello; exit 3"}, piped_stdout());
            CHECK(child.pid() > 0);
            const std::string out = co_await read_to_end(&child.stdout_pipe());
            const ExitStatus status = co_await child.wait();
            CHECK(out == "hello\n");
            CHECK(status.exit_code == 3);
            CHECK(status.term_signal == 0);
            CHECK_FALSE(status.success());
            CHECK(child.exit_status().has_value());
            // wait() after the exit returns at once, again.
            const ExitStatus again = co_await child.wait();
            CHECK(again.exit_code == 3);
            CHECK(reaped(child.pid()));
        }());
    }

    TEST_CASE("data written to a child's stdin comes back from cat") {
        run_test([]() -> Task<void> {
            ProcessOptions options;
            options.stdin_mode = StdioMode::pipe;
            options.stdout_mode = StdioMode::pipe;
            options.stderr_mode = StdioMode::ignore;
            Process cat = spawn_process({"cat"}, options);
            auto reader = spawn(read_to_end(&cat.stdout_pipe()));
            const std::string message(200'000, 'c');
            co_await cat.stdin_pipe().write_all(message);
            cat.stdin_pipe().close();  // end of file for cat
            const std::string out = co_await reader;
            const ExitStatus status = co_await cat.wait();
            CHECK(out == message);
            CHECK(status.success());
        }());
    }

    TEST_CASE("the environment and working directory options reach the child") {
        run_test([]() -> Task<void> {
            ProcessOptions options = piped_stdout();
            options.env = std::vector<std::string>{"GREETING=bonjour", "PATH=/usr/bin:/bin"};
            // Not `= "/"`: GCC 12 at -O3 reports a false -Wrestrict there (GCC PR105651).
            options.cwd = std::string("/");
            Process child = spawn_process({"sh", "-c", "echo $GREETING; pwd"}, options);
            const std::string out = co_await read_to_end(&child.stdout_pipe());
            (void)co_await child.wait();
            CHECK(out == "bonjour\n/\n");
        }());
    }

    TEST_CASE("spawning a program that does not exist is an IoError ENOENT") {
        run_test([]() -> Task<void> {
            int status = 0;
            try {
                Process p = spawn_process({"/nonexistent/uvtask-no-such-program"}, piped_stdout());
            } catch (const IoError& error) {
                status = error.uv_status();
                CHECK(error.operation() == "spawn");
                CHECK(error.detail() == "/nonexistent/uvtask-no-such-program");
            }
            CHECK(status == UV_ENOENT);
            CHECK_THROWS_AS((void)spawn_process({}), IoError);
            co_return;
        }());
    }

    TEST_CASE("a cancelled wait terminates the child with SIGTERM and reaps it") {
        run_test([]() -> Task<void> {
            Process child = spawn_process({"sleep", "30"});
            auto waiting = spawn(wait_for_exit(&child));
            co_await yield_now();
            waiting.cancel();
            CHECK_THROWS_AS(co_await waiting, CancelledError);
            // Resumed only after the exit: the child is gone, not a zombie.
            REQUIRE(child.exit_status().has_value());
            CHECK(child.exit_status()->term_signal == SIGTERM);
            CHECK(reaped(child.pid()));
        }());
    }

    TEST_CASE(
        "wait_for on a wait that leaves the child running times out; the child runs on and "
        "a later wait gets its exit status") {
        run_test([]() -> Task<void> {
            ProcessOptions options;
            options.stdin_mode = StdioMode::pipe;  // cat runs until its stdin ends
            options.stdout_mode = StdioMode::pipe;
            Process cat = spawn_process({"cat"}, options);
            bool timed_out = false;
            try {
                (void)co_await wait_for(cat.wait(WaitCancel::leave_running), 20ms);
            } catch (const TimeoutError&) {
                timed_out = true;
            }
            CHECK(timed_out);
            CHECK_FALSE(cat.exit_status().has_value());
            CHECK(::kill(cat.pid(), 0) == 0);  // not signalled: still running
            // Still usable: it echoes, then exits when its stdin ends.
            auto reader = spawn(read_to_end(&cat.stdout_pipe()));
            co_await cat.stdin_pipe().write_all("still here");
            cat.stdin_pipe().close();
            const std::string out = co_await reader;
            const ExitStatus status = co_await cat.wait();
            CHECK(out == "still here");
            CHECK(status.success());
            CHECK(reaped(cat.pid()));
        }());
    }

    TEST_CASE("a cancelled wait that leaves the child running wakes only its own task") {
        run_test([]() -> Task<void> {
            ProcessOptions options;
            options.stdin_mode = StdioMode::pipe;
            Process cat = spawn_process({"cat"}, options);
            auto leaving = spawn([](Process* p) -> Task<void> {
                (void)co_await p->wait(WaitCancel::leave_running);
            }(&cat));
            auto other = spawn(wait_for_exit(&cat));
            co_await yield_now();
            leaving.cancel();
            CHECK_THROWS_AS(co_await leaving, CancelledError);
            CHECK_FALSE(other.done());
            cat.stdin_pipe().close();
            const ExitStatus status = co_await other;
            CHECK(status.success());
        }());
    }

    TEST_CASE("a child that ignores SIGTERM is killed with SIGKILL after the grace period") {
        run_test([]() -> Task<void> {
            ProcessOptions options = piped_stdout();
            options.grace_period = 200ms;
            // exec keeps the ignored disposition: sleep ignores SIGTERM too.
            Process child =
                spawn_process({"sh", "-c", "trap '' TERM; echo ready; exec sleep 30"}, options);
            std::array<char, 6> ready{};
            co_await child.stdout_pipe().read_exact(ready);  // the trap is in place
            auto waiting = spawn(wait_for_exit(&child));
            co_await yield_now();
            waiting.cancel();
            CHECK_THROWS_AS(co_await waiting, CancelledError);
            REQUIRE(child.exit_status().has_value());
            CHECK(child.exit_status()->term_signal == SIGKILL);
            CHECK(reaped(child.pid()));
        }());
    }

    TEST_CASE("a child that exited before the cancel reached the wait returns its status") {
        run_test([]() -> Task<void> {
            ProcessOptions options;
            options.stdin_mode = StdioMode::pipe;  // cat exits when its stdin ends
            options.stdout_mode = StdioMode::ignore;
            Process child = spawn_process({"cat"}, options);
            auto waiting = spawn([](Process* p) -> Task<bool> {
                const ExitStatus status = co_await p->wait();
                co_return status.success() && this_task::cancel_requested();
            }(&child));
            co_await yield_now();  // waiting in wait(); the child waits for its stdin
            CancelAfterCompletion canceller(waiting);
            child.stdin_pipe().close();  // the child exits; only `waiting` can become ready
            const bool exited_then_cancelled = co_await waiting;
            CHECK(canceller.fired());
            CHECK(exited_then_cancelled);
        }());
    }

    TEST_CASE("destroying a Process whose child runs terminates and reaps the child") {
        run_test([]() -> Task<void> {
            int pid = 0;
            {
                Process child = spawn_process({"sleep", "30"});
                pid = child.pid();
            }
            auto gone = [pid] { return reaped(pid); };
            co_await uvtask::testing::until(gone);
            CHECK(reaped(pid));
        }());
    }

    TEST_CASE("kill sends a signal; after the exit it is an IoError ESRCH") {
        run_test([]() -> Task<void> {
            Process child = spawn_process({"sleep", "30"});
            child.kill(SIGINT);
            const ExitStatus status = co_await child.wait();
            CHECK(status.term_signal == SIGINT);
            int error_status = 0;
            try {
                child.kill(SIGTERM);
            } catch (const IoError& error) {
                error_status = error.uv_status();
            }
            CHECK(error_status == UV_ESRCH);
            Process empty;
            CHECK_THROWS_AS((void)co_await empty.wait(), IoError);
        }());
    }

    TEST_CASE(
        "a child that ignores SIGTERM does not outlive run(): the teardown kills and reaps "
        "it") {
        int pid = 0;
        RunOptions options;
        options.handle_sigint = false;
        uvtask::run(
            [](int* out) -> Task<void> {
                Process child = spawn_stubborn_child(100ms);
                std::array<char, 6> ready{};
                co_await child.stdout_pipe().read_exact(ready);  // the trap is in place
                *out = child.pid();
            }(&pid),
            options);  // main ends: the Process is destroyed (SIGTERM, ignored), then teardown
        REQUIRE(pid > 0);
        CHECK(gone_or_cleaned_up(pid));  // no zombie either: kill(pid, 0) is ESRCH
    }

    TEST_CASE("a Loop destroyed while a task waits on a stubborn child kills and reaps the child") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        int pid = 0;
        std::size_t reports = 0;
        {
            Loop adopted(&loop);
            adopted.set_exception_handler([&](const ExceptionContext&) { ++reports; });
            auto waiting = spawn([](int* out) -> Task<void> {
                Process child = spawn_stubborn_child(50ms);
                std::array<char, 6> ready{};
                co_await child.stdout_pipe().read_exact(ready);
                *out = child.pid();
                (void)co_await child.wait(WaitCancel::leave_running);  // never returns
            }(&pid));
            while (pid == 0) {
                uv_run(&loop, UV_RUN_ONCE);
            }
            for (int i = 0; i < 5; ++i) {
                uv_run(&loop, UV_RUN_NOWAIT);  // the task now waits in wait()
            }
            CHECK_FALSE(waiting.done());
        }  // destroys the pending task (its Process sends SIGTERM), then the loop's services
        // Reaped by the teardown itself, not by a later uv_run of the application's.
        const bool gone = reaped(pid);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        CHECK(reports == 1);  // "Task was destroyed but it is pending!"
        CHECK(gone);
        CHECK(gone_or_cleaned_up(pid));
    }
}
