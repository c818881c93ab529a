// run(): asyncio.run for C++ — the result, a clean shutdown (docs/semantics.md §5), SIGINT, deadlocks.
#include <uvtask/run.hpp>

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::contains;
using uvtask::testing::Counted;
using uvtask::testing::Reports;

namespace {

Task<int> returns_after_sleep(int value) {
    co_await sleep(1ms);
    co_return value;
}

Task<std::unique_ptr<int>> move_only(int value) {
    co_await yield_now();
    co_return std::make_unique<int>(value);
}

Task<void> fails(std::string what) {
    co_await yield_now();
    throw std::runtime_error(what);
}

Task<void> sleeps_forever() { co_await sleep(10s); }

struct Cleanup {
    bool caught = false;
    std::string message;
    CancelKind kind = CancelKind::user;
    bool async_cleanup_done = false;
};

Task<void> async_cleanup(Cleanup* out) {
    co_await sleep(1ms);  // an awaited cleanup step: shutdown must wait for it
    out->async_cleanup_done = true;
}

// A leftover task: sleeps, and on cancellation cleans up (in the catch, then asynchronously).
Task<void> leftover(Cleanup* out) {
    Counted local;
    bool cancelled = false;
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        out->caught = true;
        out->message = e.message();
        out->kind = e.kind();
        cancelled = true;
    }
    if (cancelled) {
        co_await non_cancellable(async_cleanup(out));
        throw CancelledError(out->message, out->kind);
    }
}

// Refuses every cancellation. `*slept_through` tells whether a 10 s sleep ever ran to its end
// (it must not: the task is destroyed when the grace period ends).
Task<void> stubborn(int* refusals, bool* slept_through) {
    Counted local;
    for (;;) {
        try {
            co_await sleep(10s);
            *slept_through = true;
        } catch (const CancelledError&) {
            ++*refusals;
        }
    }
}

Task<void> waits_for(Event* event) {
    Counted local;
    co_await event->wait();
}

// Main waits on an Event nobody sets, beside a detached task waiting on another one (with a
// done callback, which holds no handle): nothing can ever finish, and no other thread can
// reach the loop (no TaskHandle of a blocked task exists but run()'s own, the Loop was not
// handed out).
Task<void> deadlocked_main() {
    Counted local;
    Event never;
    Event never_either;
    spawn(waits_for(&never_either), "detached").add_done_callback([](const TaskHandle<void>&) {});
    co_await never.wait();
}

// Runs `f` in a child process that must exit 0 within `seconds` (alarm), so that a run() that
// hangs instead of reporting fails the test instead of blocking the suite.
template <class F>
bool exits_cleanly_within(unsigned seconds, F f) {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        alarm(seconds);
        _exit(f() ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Busy-waits `ns` (a seeded delay: where another thread's action lands in the loop's life).
void spin_for(std::uint64_t ns) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
    while (std::chrono::steady_clock::now() < end) {
    }
}

// Main awaits a task blocked on an Event that only another thread's cancel() can end; the
// thread cancels it after `delay_ns`.
Task<std::string> cancelled_from_a_thread(std::uint64_t delay_ns) {
    Event never;
    TaskHandle<void> blocked = spawn(waits_for(&never), "blocked");
    bool accepted = false;  // written by the thread, read after join()
    std::thread canceller([blocked, delay_ns, &accepted] {
        spin_for(delay_ns);
        accepted = blocked.cancel("from a thread");
    });
    std::string outcome = "not cancelled";
    try {
        co_await blocked;
    } catch (const CancelledError& e) {
        outcome = e.message();
    }
    canceller.join();
    if (!accepted) {
        outcome = "cancel() returned false";
    }
    co_return outcome;
}

// Main waits on an Event that a call posted from another thread sets, after `delay_ns`.
Task<int> set_by_a_post(std::uint64_t delay_ns) {
    Event ready;
    Loop* loop = Loop::current();
    std::thread poster([loop, &ready, delay_ns] {
        spin_for(delay_ns);
        loop->post([&ready] { ready.set(); });
    });
    co_await ready.wait();
    poster.join();
    co_return 7;
}

}  // namespace

TEST_SUITE("run") {
    TEST_CASE("run() returns the main task's value") {
        Reports reports;
        CHECK(run(returns_after_sleep(7), reports.options()) == 7);
        std::unique_ptr<int> p = run(move_only(8), reports.options());
        REQUIRE(p != nullptr);
        CHECK(*p == 8);
        bool ran = false;
        run(
            [](bool* flag) -> Task<void> {
                co_await yield_now();
                *flag = true;
            }(&ran),
            reports.options());
        CHECK(ran);
        CHECK(reports.seen.empty());
        CHECK(Loop::current() == nullptr);
    }

    TEST_CASE("run() rethrows the main task's exception") {
        Reports reports;
        CHECK_THROWS_WITH_AS(run(fails("main broke"), reports.options()), "main broke",
                             std::runtime_error);
        CHECK(reports.seen.empty());  // main's failure is retrieved by run(), not reported
        CHECK(Loop::current() == nullptr);
    }

    TEST_CASE("run() throws CancelledError when the main task ended cancelled") {
        Reports reports;
        try {
            run(
                []() -> Task<void> {
                    TaskHandle<void> child = spawn(sleeps_forever());
                    TaskHandle<void> canceller = spawn([](TaskHandle<void> c) -> Task<void> {
                        co_await yield_now();
                        c.cancel("child stopped");
                    }(child));
                    co_await child;  // its CancelledError escapes main: main ends cancelled
                    FAIL("the join returned");
                }(),
                reports.options());
            FAIL("run() returned");
        } catch (const CancelledError& e) {
            CHECK(e.message() == "child stopped");
        }
        CHECK(reports.seen.empty());
    }

    TEST_CASE("at the end of run() every leftover task is cancelled (kind shutdown) and awaited") {
        Reports reports;
        Cleanup first;
        Cleanup second;
        CHECK(Counted::alive == 0);
        const int v = run(
            [](Cleanup* a, Cleanup* b) -> Task<int> {
                (void)spawn(leftover(a), "leftover-1");
                (void)spawn(leftover(b), "leftover-2");
                co_await yield_now();  // both are sleeping now
                co_return 3;
            }(&first, &second),
            reports.options());
        CHECK(v == 3);
        for (Cleanup* c : {&first, &second}) {
            CHECK(c->caught);
            CHECK(c->kind == CancelKind::shutdown);
            CHECK(c->async_cleanup_done);  // shutdown waited for the async cleanup
        }
        CHECK(Counted::alive == 0);
        CHECK(reports.seen.empty());
    }

    TEST_CASE("a task spawned during shutdown is cancelled and awaited too") {
        Reports reports;
        TaskHandle<void> late;
        run(
            [](TaskHandle<void>* out) -> Task<void> {
                auto spawns_when_cancelled = [](TaskHandle<void>* o) -> Task<void> {
                    try {
                        co_await sleep(10s);
                    } catch (const CancelledError&) {
                        *o = spawn(sleeps_forever(), "late");
                        throw;
                    }
                };
                (void)spawn(spawns_when_cancelled(out));
                co_await yield_now();
            }(&late),
            reports.options());
        REQUIRE(late.valid());
        CHECK(late.done());
        CHECK(late.cancelled());
        CHECK(reports.seen.empty());
    }

    TEST_CASE("a leftover task refusing cancellation past shutdown_grace is destroyed, reported") {
        Reports reports;
        RunOptions options = reports.options();
        options.shutdown_grace = 50ms;
        int refusals = 0;
        bool slept_through = false;
        CHECK(Counted::alive == 0);
        const int v = run(
            [](int* r, bool* s) -> Task<int> {
                (void)spawn(stubborn(r, s), "stubborn");
                co_await yield_now();
                co_return 5;
            }(&refusals, &slept_through),
            options);
        CHECK(v == 5);               // main's value is still returned
        CHECK(refusals == 1);        // shutdown asks once
        CHECK_FALSE(slept_through);  // destroyed when the grace ended, not left to run on
        CHECK(Counted::alive == 0);  // its frame was destroyed
        REQUIRE(reports.seen.size() == 1);
        CHECK(reports.seen[0].message == "Task was destroyed but it is pending!");
        CHECK(reports.seen[0].task_name == "stubborn");
        CHECK(Loop::current() == nullptr);
    }

    TEST_CASE("SIGINT during run() cancels the main task with \"SIGINT\", kind signal") {
        Reports reports;
        std::string message;
        CancelKind kind = CancelKind::user;
        const int v = run(
            [](std::string* m, CancelKind* k) -> Task<int> {
                std::raise(SIGINT);
                try {
                    co_await sleep(10s);
                } catch (const CancelledError& e) {
                    *m = e.message();
                    *k = e.kind();
                }
                co_return 1;  // refusing: main's value is run()'s result
            }(&message, &kind),
            reports.options());
        CHECK(v == 1);
        CHECK(message == "SIGINT");
        CHECK(kind == CancelKind::signal);
        CHECK(reports.seen.empty());
    }

    TEST_CASE("SIGINT that ends the main task, exit_on_sigint off: run() throws "
              "KeyboardInterrupt after the clean shutdown") {
        Reports reports;
        RunOptions options = reports.options();
        options.exit_on_sigint = false;
        bool leftover_cleaned_up = false;
        try {
            run(
                [](bool* cleaned) -> Task<void> {
                    TaskHandle<void> leftover = spawn(
                        [](bool* flag) -> Task<void> {
                            try {
                                co_await sleep(10s);
                            } catch (const CancelledError& e) {
                                CHECK(e.kind() == CancelKind::shutdown);
                                *flag = true;
                                throw;
                            }
                        }(cleaned));
                    std::raise(SIGINT);
                    co_await sleep(10s);
                    FAIL("the sleep was not cancelled");
                }(&leftover_cleaned_up),
                options);
            FAIL("run() returned");
        } catch (const KeyboardInterrupt& e) {
            CHECK(std::string(e.what()) == "SIGINT: interrupted");
        }
        CHECK(leftover_cleaned_up);  // the shutdown ran before the exception
        CHECK(Loop::current() == nullptr);
        CHECK(reports.seen.empty());
    }

    TEST_CASE("SIGINT that ends the main task ends the process by SIGINT after the clean "
              "shutdown, what it printed flushed") {
        int out[2];
        REQUIRE(pipe(out) == 0);
        std::fflush(stdout);  // the child must not inherit the test runner's buffered output
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            close(out[0]);
            dup2(out[1], STDOUT_FILENO);
            try {
                run([]() -> Task<void> {
                    std::raise(SIGINT);
                    try {
                        co_await sleep(10s);
                    } catch (const CancelledError&) {
                        std::fputs("cleaned up", stdout);  // buffered: a pipe is not a tty
                        throw;
                    }
                }());
            } catch (...) {
                _exit(4);  // what the old run() did: CancelledError out of run()
            }
            _exit(3);  // run() returned
        }
        close(out[1]);
        std::string printed;
        char buffer[64];
        for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) > 0;) {
            printed.append(buffer, static_cast<std::size_t>(n));
        }
        close(out[0]);
        int status = 0;
        REQUIRE(waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status));
        if (WIFSIGNALED(status)) {
            CHECK(WTERMSIG(status) == SIGINT);
        } else {
            CHECK(WEXITSTATUS(status) == 0);  // shows which exit it was
        }
        CHECK(printed == "cleaned up");
    }

    TEST_CASE("a second SIGINT during run() kills the process") {
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            try {
                run([]() -> Task<void> {
                    std::raise(SIGINT);
                    try {
                        co_await sleep(10s);
                    } catch (const CancelledError&) {
                    }
                    std::raise(SIGINT);
                    co_await sleep(10s);
                }());
            } catch (...) {
                _exit(4);
            }
            _exit(3);  // not reached if the second SIGINT killed us
        }
        int status = 0;
        REQUIRE(waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGINT);
    }

    TEST_CASE("run() waits for another thread's cancel of the task main awaits (not a deadlock)") {
        std::mt19937_64 rng(20240601);
        for (int i = 0; i < 40; ++i) {
            // 0-300 µs: the cancel lands before and after the loop has run out of work.
            const std::uint64_t delay = rng() % 300'000;
            Reports reports;
            std::string outcome;
            REQUIRE_NOTHROW(outcome = run(cancelled_from_a_thread(delay), reports.options()));
            CHECK(outcome == "from a thread");
            CHECK(reports.seen.empty());
        }
    }

    TEST_CASE("run() waits for a call another thread posts when main waits on an Event") {
        std::mt19937_64 rng(20240602);
        for (int i = 0; i < 40; ++i) {
            const std::uint64_t delay = rng() % 300'000;
            int v = 0;
            REQUIRE_NOTHROW(v = run(set_by_a_post(delay)));
            CHECK(v == 7);
        }
    }

    TEST_CASE("a main task that can never finish makes run() throw InvalidStateError, cleanly") {
        // In a child process, so that a run() that waits forever instead fails the test.
        CHECK(exits_cleanly_within(20, [] {
            Reports reports;
            bool named = false;
            try {
                run(deadlocked_main(), reports.options());
            } catch (const InvalidStateError& e) {
                named = std::string(e.what()).find("never finish") != std::string::npos;
            }
            // The tasks ended when cancelled: nothing destroyed pending, nothing left.
            return named && Counted::alive == 0 && reports.seen.empty() &&
                   Loop::current() == nullptr && run(returns_after_sleep(1)) == 1;
        }));
    }

    TEST_CASE("a deadlock is reported once the other thread that could wake main has let go") {
        // The thread held the blocked task's handle and dropped it without cancelling: when
        // the loop runs out of work after that, nothing can wake main any more.
        CHECK(exits_cleanly_within(20, [] {
            bool named = false;
            try {
                run([]() -> Task<void> {
                    Event never;
                    TaskHandle<void> blocked = spawn(waits_for(&never), "blocked");
                    std::thread([held = std::move(blocked)] { (void)held; }).join();
                    co_await never.wait();
                }());
            } catch (const InvalidStateError& e) {
                named = std::string(e.what()).find("never finish") != std::string::npos;
            }
            return named && Counted::alive == 0;
        }));
    }

    TEST_CASE("run() can be called many times in a row on the same thread") {
        Reports reports;
        for (int i = 0; i < 20; ++i) {
            const int v = run(
                [](int n) -> Task<int> {
                    TaskHandle<int> child = spawn(returns_after_sleep(n));
                    (void)spawn(sleeps_forever());  // a leftover each time
                    const int got = co_await child;
                    co_return got;
                }(i),
                reports.options());
            CHECK(v == i);
            CHECK(Loop::current() == nullptr);
        }
        CHECK(reports.seen.empty());
    }

    TEST_CASE("6 negative durations in RunOptions are an InvalidDurationError from run()") {
        Reports reports;
        bool ran = false;
        auto body = [](bool* flag) -> Task<void> {
            *flag = true;
            co_return;
        };
        RunOptions bad_grace;
        bad_grace.shutdown_grace = -1ms;
        bad_grace.exception_handler = reports.handler();
        CHECK_THROWS_AS(run(body(&ran), bad_grace), InvalidDurationError);
        RunOptions bad_slice;
        bad_slice.time_slice = -1ns;
        bad_slice.exception_handler = reports.handler();
        CHECK_THROWS_AS(run(body(&ran), bad_slice), InvalidDurationError);
        CHECK_FALSE(ran);
        CHECK(reports.seen.empty());
        CHECK(Loop::current() == nullptr);
    }

    TEST_CASE("6 run() inside run() is an InvalidStateError") {
        const int v = run([]() -> Task<int> {
            bool inner_ran = false;
            auto inner = [](bool* flag) -> Task<int> {
                *flag = true;
                co_return 1;
            };
            try {
                (void)run(inner(&inner_ran));
                FAIL("a nested run() returned");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "Loop"));
            }
            CHECK_FALSE(inner_ran);
            co_await yield_now();  // the outer loop still works
            co_return 2;
        }());
        CHECK(v == 2);
    }
}
