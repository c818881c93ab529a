// race(): the first task to finish wins; the rest are cancelled and awaited before it returns.
#include <uvtask/race.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

struct Log {
    bool cancelled = false;
    bool cleanup_done = false;
    CancelKind kind = CancelKind::user;
};

Task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Task<int> fail_after(std::chrono::milliseconds delay, std::string what) {
    co_await sleep(delay);
    throw std::runtime_error(what);
}

Task<void> slow_cleanup(Log* log) {
    co_await sleep(10ms);
    log->cleanup_done = true;
}

/// Sleeps 10 s; on cancel records it, cleans up for 10 ms (cancellation held), rethrows.
Task<int> loser(Log* log) {
    bool cancelled = false;
    CancelKind kind = CancelKind::user;
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        cancelled = true;
        kind = e.kind();
    }
    if (cancelled) {
        log->cancelled = true;
        log->kind = kind;
        co_await non_cancellable(slow_cleanup(log));
        throw CancelledError("lost", kind);
    }
    co_return 0;
}

Task<int> refusing(int value) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
    }
    co_return value;
}

}  // namespace

TEST_SUITE("race") {
    TEST_CASE("the first task to finish wins; the others are cancelled and awaited first") {
        run_test([]() -> Task<void> {
            Log a;
            Log b;
            const int v = co_await race(loser(&a), value_after(2ms, 5), loser(&b));
            CHECK(v == 5);
            CHECK(a.cancelled);
            CHECK(a.kind == CancelKind::parent);
            CHECK(a.cleanup_done);  // awaited before race returned
            CHECK(b.cleanup_done);
            CHECK(this_task::cancelling() == 0);
        }());
    }

    TEST_CASE("a failure that finishes first wins: rethrown once the others have ended") {
        run_test([]() -> Task<void> {
            Log a;
            Ended<int> out =
                co_await outcome_of(race(fail_after(1ms, "first"), loser(&a), value_after(10s, 1)));
            REQUIRE(out.threw<std::runtime_error>());
            CHECK(std::string(out.as<std::runtime_error>()->what()) == "first");
            CHECK(a.cleanup_done);
        }());
    }

    TEST_CASE("a task ending cancelled does not win") {
        run_test([]() -> Task<void> {
            TaskHandle<int> victim = spawn(value_after(10s, 1));
            auto canceller = [](TaskHandle<int> v) -> Task<void> {
                co_await sleep(1ms);
                v.cancel();
            };
            TaskHandle<void> c = spawn(canceller(victim));
            const int v = co_await race(victim, value_after(10ms, 2));
            CHECK(v == 2);
            co_await c;
        }());
    }

    TEST_CASE("when every task ends cancelled, race throws CancelledError") {
        run_test([]() -> Task<void> {
            TaskHandle<int> a = spawn(value_after(10s, 1));
            TaskHandle<int> b = spawn(value_after(10s, 2));
            auto canceller = [](TaskHandle<int> a, TaskHandle<int> b) -> Task<void> {
                co_await sleep(1ms);
                a.cancel("a");
                b.cancel("b");
            };
            TaskHandle<void> c = spawn(canceller(a, b));
            std::vector<TaskHandle<int>> handles{a, b};
            Ended<int> out = co_await outcome_of(race(std::move(handles)));
            CHECK(out.threw<CancelledError>());
            CHECK(this_task::cancelling() == 0);
            co_await c;
        }());
    }

    TEST_CASE("an outer cancel is passed to every task and race throws CancelledError") {
        run_test([]() -> Task<void> {
            Log a;
            Log b;
            auto body = [](Log* a, Log* b) -> Task<Ended<int>> {
                Ended<int> out = co_await outcome_of(race(loser(a), loser(b)));
                co_return out;
            };
            TaskHandle<Ended<int>> task = spawn(body(&a, &b));
            co_await sleep(2ms);
            task.cancel("stop");
            Ended<int> out = co_await task;
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop");
            CHECK(a.kind == CancelKind::user);  // the outer request, passed on
            CHECK(a.cleanup_done);
            CHECK(b.cleanup_done);
        }());
    }

    TEST_CASE("a task refusing the outer cancel still wins; the cancel stays pending") {
        run_test([]() -> Task<void> {
            Log a;
            auto body = [](Log* a) -> Task<int> {
                const int v = co_await race(refusing(4), loser(a));
                CHECK(v == 4);
                CHECK(this_task::cancel_requested());
                co_await yield_now();
                co_return v;
            };
            TaskHandle<int> task = spawn(body(&a));
            co_await sleep(2ms);
            task.cancel("stop");
            Ended<int> out = co_await settled(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop");
        }());
    }

    TEST_CASE("race over a vector, and an empty vector is an InvalidStateError") {
        run_test([]() -> Task<void> {
            std::vector<Task<int>> tasks;
            tasks.push_back(value_after(10s, 1));
            tasks.push_back(value_after(1ms, 2));
            const int v = co_await race(std::move(tasks));
            CHECK(v == 2);
            Ended<int> empty = co_await outcome_of(race(std::vector<Task<int>>{}));
            CHECK(empty.threw<InvalidStateError>());
        }());
    }
}
