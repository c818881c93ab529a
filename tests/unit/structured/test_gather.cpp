// gather(): every result, or the first failure after the rest were cancelled and awaited.
#include <uvtask/gather.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;

namespace {

struct Log {
    bool cancelled = false;
    bool cleanup_done = false;
    std::string message;
};

Task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Task<std::string> text_after(std::chrono::milliseconds delay, std::string text) {
    co_await sleep(delay);
    co_return text;
}

Task<void> nothing_after(std::chrono::milliseconds delay) { co_await sleep(delay); }

Task<int> fail_after(std::chrono::milliseconds delay, std::string what) {
    co_await sleep(delay);
    throw std::runtime_error(what);
}

Task<void> slow_cleanup(Log* log) {
    co_await sleep(10ms);
    log->cleanup_done = true;
}

/// Sleeps 10 s; on cancel records it, cleans up for 10 ms (cancellation held), rethrows.
Task<int> cancellable(Log* log) {
    bool cancelled = false;
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        cancelled = true;
        log->cancelled = true;
        log->message = e.message();
    }
    if (cancelled) {
        co_await non_cancellable(slow_cleanup(log));
        throw CancelledError(log->message);
    }
    co_return 0;
}

/// Refuses a cancel and returns `value`.
Task<int> refusing(int value) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
    }
    co_return value;
}

/// Fails when cancelled.
Task<int> fails_when_cancelled() {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
    }
    throw std::logic_error("failed while cancelled");
}

}  // namespace

TEST_SUITE("gather") {
    TEST_CASE("gather returns every result as a tuple, in argument order") {
        run_test([]() -> Task<void> {
            std::tuple<int, std::string, std::monostate> results =
                co_await gather(value_after(10ms, 1), text_after(1ms, "two"), nothing_after(5ms));
            CHECK(std::get<0>(results) == 1);
            CHECK(std::get<1>(results) == "two");
            // A move-only result and a handle spawned beforehand.
            auto unique = []() -> Task<std::unique_ptr<int>> {
                co_return std::make_unique<int>(9);
            };
            TaskHandle<int> handle = spawn(value_after(1ms, 3));
            std::tuple<std::unique_ptr<int>, int> more = co_await gather(unique(), handle);
            CHECK(*std::get<0>(more) == 9);
            CHECK(std::get<1>(more) == 3);
        }());
    }

    TEST_CASE("gather over a vector returns a vector in order; an empty one completes at once") {
        run_test([]() -> Task<void> {
            std::vector<Task<int>> tasks;
            for (int i = 0; i < 5; ++i) {
                tasks.push_back(value_after(std::chrono::milliseconds(5 - i), i));
            }
            std::vector<int> results = co_await gather(std::move(tasks));
            CHECK(results == std::vector<int>{0, 1, 2, 3, 4});
            std::vector<int> none = co_await gather(std::vector<Task<int>>{});
            CHECK(none.empty());
            std::vector<Task<void>> voids;
            voids.push_back(nothing_after(1ms));
            voids.push_back(nothing_after(2ms));
            co_await gather(std::move(voids));
        }());
    }

    TEST_CASE("on the first failure gather cancels the rest, awaits them, then rethrows it") {
        run_test([]() -> Task<void> {
            Log a;
            Log b;
            Ended<std::tuple<int, int, int>> out = co_await outcome_of(
                gather(cancellable(&a), fail_after(2ms, "boom"), cancellable(&b)));
            REQUIRE(out.threw<std::runtime_error>());
            CHECK(std::string(out.as<std::runtime_error>()->what()) == "boom");
            CHECK(a.cancelled);
            CHECK(b.cancelled);
            CHECK(a.cleanup_done);  // awaited before gather rethrew
            CHECK(b.cleanup_done);
            CHECK(a.message == "gather(): another task failed");
        }());
    }

    TEST_CASE("a later failure is reported through the loop's exception handler, not dropped") {
        auto run = run_test(
            []() -> Task<void> {
                Ended<std::tuple<int, int>> out =
                    co_await outcome_of(gather(fail_after(1ms, "first"), fails_when_cancelled()));
                REQUIRE(out.threw<std::runtime_error>());
            }(),
            RunTestOptions{.expect_reports = true});
        REQUIRE(run.reports.size() == 1);
        CHECK(run.reports[0].message == "Task exception was never retrieved");
    }

    TEST_CASE("an outer cancel is passed to every task and gather throws CancelledError") {
        run_test([]() -> Task<void> {
            Log a;
            Log b;
            auto body = [](Log* a, Log* b) -> Task<Ended<std::tuple<int, int>>> {
                Ended<std::tuple<int, int>> out =
                    co_await outcome_of(gather(cancellable(a), cancellable(b)));
                co_return out;
            };
            TaskHandle<Ended<std::tuple<int, int>>> task = spawn(body(&a, &b));
            co_await sleep(2ms);
            task.cancel("stop");
            Ended<std::tuple<int, int>> out = co_await task;
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop");
            CHECK(a.message == "stop");
            CHECK(a.cleanup_done);
            CHECK(b.cleanup_done);
        }());
    }

    TEST_CASE("when every task refuses the outer cancel, the results come back and it stays pending") {
        run_test([]() -> Task<void> {
            auto body = []() -> Task<int> {
                std::tuple<int, int> results = co_await gather(refusing(1), refusing(2));
                CHECK(std::get<0>(results) + std::get<1>(results) == 3);
                CHECK(this_task::cancel_requested());
                co_await yield_now();  // delivered here
                co_return 0;
            };
            TaskHandle<int> task = spawn(body());
            co_await sleep(2ms);
            task.cancel("stop");
            Ended<int> out = co_await uvtask::testing::settled(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop");
        }());
    }

    TEST_CASE("a task ending cancelled without gather asking counts as a failure") {
        run_test([]() -> Task<void> {
            Log b;
            TaskHandle<int> victim = spawn(value_after(10s, 1));
            auto canceller = [](TaskHandle<int> v) -> Task<void> {
                co_await sleep(2ms);
                v.cancel("someone else");
            };
            TaskHandle<void> c = spawn(canceller(victim));
            Ended<std::tuple<int, int>> out =
                co_await outcome_of(gather(victim, cancellable(&b)));
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "someone else");
            CHECK(b.cancelled);
            CHECK(this_task::cancelling() == 0);  // we were not cancelled
            co_await c;
        }());
    }

    TEST_CASE("handles passed to gather are cancelled on a failure and awaited") {
        run_test([]() -> Task<void> {
            Log a;
            TaskHandle<int> handle = spawn(cancellable(&a));
            Ended<std::tuple<int, int>> out =
                co_await outcome_of(gather(handle, fail_after(1ms, "x")));
            CHECK(out.threw<std::runtime_error>());
            CHECK(handle.done());
            CHECK(a.cleanup_done);
        }());
    }

    TEST_CASE("gather of an empty task or handle is an InvalidStateError") {
        run_test([]() -> Task<void> {
            Ended<std::tuple<int, int>> out =
                co_await outcome_of(gather(TaskHandle<int>{}, value_after(1ms, 1)));
            CHECK(out.threw<InvalidStateError>());
        }());
    }
}
