// TaskHandle<T>: the API of docs/semantics.md §2 on a spawned task.
#include <uvtask/task_handle.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::contains;
using uvtask::testing::Counted;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;

namespace {

Task<int> returns(int value) { co_return value; }

Task<int> returns_after_yield(int value) {
    co_await yield_now();
    co_return value;
}

Task<void> fails(std::string what) {
    co_await yield_now();
    throw std::runtime_error(what);
}

Task<void> sleeps_forever() { co_await sleep(10s); }

Task<std::unique_ptr<int>> move_only(int value) {
    co_await yield_now();
    co_return std::make_unique<int>(value);
}

// Yields until `*flag` is set: a deterministic wait for another task's side effect.
Task<void> until(const bool* flag) {
    while (!*flag) {
        co_await yield_now();
    }
}

Task<void> yields_then_sets(bool* cancelled, bool* finished, int yields) {
    Counted local;
    try {
        for (int i = 0; i < yields; ++i) {
            co_await yield_now();
        }
        co_await sleep(1ms);
    } catch (const CancelledError&) {
        *cancelled = true;
        throw;
    }
    *finished = true;
}

}  // namespace

TEST_SUITE("task_handle") {
    TEST_CASE("result() is the value once the task is done, and done() turns true only then") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns_after_yield(7));
            CHECK_FALSE(h.done());
            CHECK_FALSE(h.cancelled());
            const int v = co_await h;
            CHECK(v == 7);
            CHECK(h.done());
            CHECK_FALSE(h.cancelled());
            CHECK(h.result() == 7);
            CHECK(h.exception() == nullptr);
        }());
    }

    TEST_CASE("result() before the task is done is an InvalidStateError naming the task") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns(1), "early-bird");
            CHECK_THROWS_AS(h.result(), InvalidStateError);
            try {
                (void)h.result();
            } catch (const InvalidStateError& e) {
                CHECK(std::string(e.what()).find("early-bird") != std::string::npos);
            }
            CHECK_THROWS_AS((void)h.exception(), InvalidStateError);
            const int v = co_await h;
            CHECK(v == 1);
        }());
    }

    TEST_CASE("6 result() before the task is done is an InvalidStateError") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns(4), "unfinished");
            try {
                (void)h.result();
                FAIL("result() returned before the task ran");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "unfinished"));
            }
            const int v = co_await h;
            CHECK(v == 4);
        }());
    }

    TEST_CASE("a copy of a handle shares the task's state") {
        run_test([]() -> Task<void> {
            TaskHandle<void> h = spawn(sleeps_forever(), "shared");
            TaskHandle<void> copy = h;
            CHECK(copy == h);
            CHECK(copy.name() == "shared");
            CHECK(copy.cancel("via the copy"));
            CHECK(h.cancelling() == 1);
            try {
                co_await h;
                FAIL("the join should throw CancelledError");
            } catch (const CancelledError& e) {
                CHECK(e.message() == "via the copy");
            }
            CHECK(copy.done());
            CHECK(copy.cancelled());
            TaskHandle<void> other = spawn(sleeps_forever());
            CHECK_FALSE(other == h);
            other.cancel();
            bool other_cancelled = false;
            try {
                co_await other;
            } catch (const CancelledError&) {
                other_cancelled = true;
            }
            CHECK(other_cancelled);
        }());
    }

    TEST_CASE("add_done_callback is called once, when the task completes, with its handle") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns_after_yield(5));
            int calls = 0;
            int seen = 0;
            h.add_done_callback([&calls, &seen](const TaskHandle<int>& done) {
                ++calls;
                CHECK(done.done());
                seen = done.result();
            });
            CHECK(calls == 0);
            co_await yield_now();  // the task has started but not finished
            CHECK_FALSE(h.done());
            CHECK(calls == 0);
            const int v = co_await h;
            CHECK(v == 5);
            CHECK(calls == 1);
            CHECK(seen == 5);
            co_await yield_now();
            co_await yield_now();
            CHECK(calls == 1);
        }());
    }

    TEST_CASE("add_done_callback on a done task calls the callback at once") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns(9));
            co_await h;
            int calls = 0;
            h.add_done_callback([&calls](const TaskHandle<int>& done) {
                ++calls;
                CHECK(done.result() == 9);
            });
            CHECK(calls == 1);
            co_await yield_now();
            CHECK(calls == 1);
        }());
    }

    TEST_CASE("add_done_callback runs for a cancelled task and for a failed one") {
        run_test([]() -> Task<void> {
            TaskHandle<void> sleeper = spawn(sleeps_forever());
            TaskHandle<void> failing = spawn(fails("oops"));
            bool sleeper_cb = false;
            bool failing_cb = false;
            sleeper.add_done_callback(
                [&sleeper_cb](const TaskHandle<void>& h) { sleeper_cb = h.cancelled(); });
            failing.add_done_callback([&failing_cb](const TaskHandle<void>& h) {
                failing_cb = h.exception() != nullptr;
            });
            co_await yield_now();
            sleeper.cancel();
            bool threw = false;
            try {
                co_await sleeper;
            } catch (const CancelledError&) {
                threw = true;
            }
            CHECK(threw);
            CHECK(sleeper_cb);
            try {
                co_await failing;
            } catch (const std::runtime_error&) {
            }
            CHECK(failing_cb);
        }());
    }

    TEST_CASE("an exception thrown by a done callback is reported through the exception handler") {
        int later_calls = 0;
        auto run = run_test(
            [](int* later) -> Task<void> {
                TaskHandle<int> h = spawn(returns_after_yield(1), "with-callbacks");
                h.add_done_callback(
                    [](const TaskHandle<int>&) { throw std::runtime_error("callback broke"); });
                h.add_done_callback([later](const TaskHandle<int>&) { ++*later; });
                const int v = co_await h;
                CHECK(v == 1);
                // Already done: the callback runs at once, and its exception is reported too.
                h.add_done_callback(
                    [](const TaskHandle<int>&) { throw std::logic_error("late callback broke"); });
            }(&later_calls),
            RunTestOptions{.expect_reports = true});
        CHECK(later_calls == 1);  // a throwing callback does not stop the others
        REQUIRE(run.reports.size() == 2);
        for (const auto& report : run.reports) {
            CHECK(report.task_name == "with-callbacks");
            CHECK(report.message.find("callback") != std::string::npos);
            REQUIRE(report.exception != nullptr);
        }
        CHECK_THROWS_WITH_AS(std::rethrow_exception(run.reports[0].exception), "callback broke",
                             std::runtime_error);
        CHECK_THROWS_WITH_AS(std::rethrow_exception(run.reports[1].exception),
                             "late callback broke", std::logic_error);
    }

    TEST_CASE("a move-only result is moved out by co_await std::move(handle)") {
        run_test([]() -> Task<void> {
            TaskHandle<std::unique_ptr<int>> h = spawn(move_only(11));
            std::unique_ptr<int> p = co_await std::move(h);
            REQUIRE(p != nullptr);
            CHECK(*p == 11);
            // The value was moved out: a second join cannot produce it again.
            CHECK_THROWS_AS(co_await h, InvalidStateError);
        }());
    }

    TEST_CASE("dropping every handle does not cancel the task: it runs to completion") {
        CHECK(Counted::alive == 0);
        run_test([]() -> Task<void> {
            bool cancelled = false;
            bool finished = false;
            {
                TaskHandle<void> h = spawn(yields_then_sets(&cancelled, &finished, 3));
                co_await yield_now();  // started and suspended when the last handle goes
                CHECK(Counted::alive == 1);
            }
            co_await until(&finished);
            CHECK_FALSE(cancelled);
            CHECK(finished);
            co_await yield_now();
            CHECK(Counted::alive == 0);  // and its frame was freed when it ended
        }());
        CHECK(Counted::alive == 0);
    }

    TEST_CASE(
        "a failed task's exception is rethrown by co_await, by result(), and by exception()") {
        run_test([]() -> Task<void> {
            TaskHandle<void> h = spawn(fails("broken"));
            CHECK_THROWS_WITH_AS(co_await h, "broken", std::runtime_error);
            CHECK(h.done());
            CHECK_FALSE(h.cancelled());
            CHECK_THROWS_WITH_AS(h.result(), "broken", std::runtime_error);
            std::exception_ptr e = h.exception();
            REQUIRE(e != nullptr);
            CHECK_THROWS_WITH_AS(std::rethrow_exception(e), "broken", std::runtime_error);
            // The same failure is seen by a second join.
            CHECK_THROWS_WITH_AS(co_await h, "broken", std::runtime_error);
        }());
    }

    TEST_CASE("exception() of a cancelled task throws CancelledError with its message") {
        run_test([]() -> Task<void> {
            TaskHandle<void> h = spawn(sleeps_forever());
            co_await yield_now();
            CHECK(h.cancel("stop it"));
            try {
                co_await h;
            } catch (const CancelledError&) {
            }
            REQUIRE(h.cancelled());
            try {
                (void)h.exception();
                FAIL("exception() should throw CancelledError");
            } catch (const CancelledError& e) {
                CHECK(e.message() == "stop it");
            }
            try {
                h.result();
                FAIL("result() should throw CancelledError");
            } catch (const CancelledError& e) {
                CHECK(e.message() == "stop it");
            }
        }());
    }

    TEST_CASE("every operation on an empty handle is an InvalidStateError") {
        TaskHandle<int> empty;
        CHECK_FALSE(empty.valid());
        CHECK_THROWS_AS(empty.cancel(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.cancelling(), InvalidStateError);
        CHECK_THROWS_AS(empty.uncancel(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.done(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.cancelled(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.result(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.exception(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.name(), InvalidStateError);
        CHECK_THROWS_AS(empty.add_done_callback([](const TaskHandle<int>&) {}), InvalidStateError);
        run_test([]() -> Task<void> {
            TaskHandle<int> none;
            CHECK_THROWS_AS(co_await none, InvalidStateError);
            CHECK_THROWS_AS(co_await shield(none), InvalidStateError);
        }());
    }

    TEST_CASE("6 every operation on an empty TaskHandle is an InvalidStateError") {
        TaskHandle<void> empty;
        CHECK_THROWS_AS(empty.cancel(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.cancelling(), InvalidStateError);
        CHECK_THROWS_AS(empty.uncancel(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.done(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.cancelled(), InvalidStateError);
        CHECK_THROWS_AS(empty.result(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.exception(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.name(), InvalidStateError);
        CHECK_THROWS_AS(empty.add_done_callback([](const TaskHandle<void>&) {}), InvalidStateError);
        run_test([]() -> Task<void> {
            TaskHandle<void> none;
            try {
                co_await none;
                FAIL("awaiting an empty handle returned");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "empty"));
            }
        }());
    }
}
