// wait_for(): a task, a handle or an awaitable with a timeout, and no orphans (docs/semantics.md §4).
#include <uvtask/wait_for.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

struct InnerLog {
    bool cancelled = false;       // the inner task received CancelledError
    bool cleanup_done = false;    // its (non-cancellable) cleanup finished
    CancelKind kind = CancelKind::user;
    std::string message;
};

Task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Task<void> slow_cleanup(InnerLog* log) {
    co_await sleep(20ms);
    log->cleanup_done = true;
}

/// Sleeps 10 s; on cancel records it, runs a 20 ms cleanup (cancellation held), rethrows.
Task<int> inner_with_cleanup(InnerLog* log) {
    bool cancelled = false;
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        cancelled = true;
        log->cancelled = true;
        log->kind = e.kind();
        log->message = e.message();
    }
    if (cancelled) {
        co_await non_cancellable(slow_cleanup(log));
        throw CancelledError(log->message, log->kind);
    }
    co_return 1;
}

/// Refuses a cancel and returns `value` after a non-cancellable pause.
Task<int> refusing(int value, InnerLog* log) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        log->cancelled = true;
    }
    co_await non_cancellable(slow_cleanup(log));
    co_return value;
}

/// Waits for `awaited` with a 10 s timeout; returns the outcome.
Task<Ended<int>> waiting(TaskHandle<int> awaited) {
    Ended<int> out = co_await outcome_of(wait_for(awaited, 10s));
    co_return out;
}

/// When cancelled (by wait_for's timeout), cancels `*outer` in the same tick, then rethrows.
Task<int> cancels_outer_on_timeout(TaskHandle<Ended<int>>* outer, InnerLog* log) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        log->cancelled = true;
        log->kind = e.kind();
        outer->cancel("user stop");
        throw;
    }
    co_return 1;
}

Task<Ended<int>> waiting_short(TaskHandle<Ended<int>>* self, InnerLog* log) {
    Ended<int> out = co_await outcome_of(wait_for(cancels_outer_on_timeout(self, log), 5ms));
    co_return out;
}

}  // namespace

TEST_SUITE("wait_for") {
    TEST_CASE("wait_for returns the result of a task, a handle or an awaitable that ends in time") {
        run_test([]() -> Task<void> {
            const int a = co_await wait_for(value_after(1ms, 1), 10s);
            CHECK(a == 1);
            TaskHandle<int> h = spawn(value_after(1ms, 2));
            const int b = co_await wait_for(h, 10s);
            CHECK(b == 2);
            Queue<int> queue;
            CHECK(queue.try_push(3));
            const int c = co_await wait_for(queue.pop(), 10s);
            CHECK(c == 3);
            co_await wait_for(sleep(1ms), 10s);
            CHECK(this_task::cancelling() == 0);
        }());
    }

    TEST_CASE("wait_for raises TimeoutError only after the inner task was cancelled and finished") {
        run_test([]() -> Task<void> {
            InnerLog log;
            TaskHandle<int> inner = spawn(inner_with_cleanup(&log));
            Ended<int> out = co_await outcome_of(wait_for(inner, 5ms));
            REQUIRE(out.threw<TimeoutError>());
            CHECK(log.cancelled);
            CHECK(log.kind == CancelKind::timeout);
            CHECK(log.cleanup_done);  // finished before wait_for returned
            CHECK(inner.done());
            CHECK(inner.cancelled());
            CHECK(this_task::cancelling() == 0);
            CHECK_FALSE(this_task::cancel_requested());
        }());
    }

    TEST_CASE("wait_for on a Task leaves no task running after a timeout") {
        run_test([]() -> Task<void> {
            InnerLog log;
            const std::size_t before = Loop::current()->live_tasks();
            Ended<int> out = co_await outcome_of(wait_for(inner_with_cleanup(&log), 5ms));
            REQUIRE(out.threw<TimeoutError>());
            CHECK(log.cleanup_done);
            CHECK(Loop::current()->live_tasks() == before);
        }());
    }

    TEST_CASE("an outer cancel of wait_for is passed to the inner task and raises CancelledError") {
        run_test([]() -> Task<void> {
            InnerLog log;
            TaskHandle<int> inner = spawn(inner_with_cleanup(&log));
            TaskHandle<Ended<int>> waiter = spawn(waiting(inner));
            co_await sleep(2ms);
            waiter.cancel("stop button");
            Ended<int> out = co_await waiter;
            REQUIRE(out.threw<CancelledError>());
            CHECK_FALSE(out.threw<TimeoutError>());
            CHECK(out.as<CancelledError>()->message() == "stop button");
            CHECK(out.as<CancelledError>()->kind() == CancelKind::user);
            CHECK(log.cancelled);
            CHECK(log.message == "stop button");
            CHECK(log.cleanup_done);
            CHECK(inner.done());
        }());
    }

    TEST_CASE("wait_for: a timeout and an outer cancel in the same loop tick give CancelledError") {
        // The inner task cancels the waiter from its handler of the timeout's cancellation: both
        // requests reach the waiter before it resumes.
        run_test([]() -> Task<void> {
            InnerLog log;
            TaskHandle<Ended<int>> waiter;
            waiter = spawn(waiting_short(&waiter, &log));
            Ended<int> out = co_await waiter;
            CHECK(log.cancelled);
            CHECK(log.kind == CancelKind::timeout);
            REQUIRE(out.threw<CancelledError>());
            CHECK_FALSE(out.threw<TimeoutError>());
            CHECK(out.as<CancelledError>()->message() == "user stop");
            CHECK(out.as<CancelledError>()->kind() == CancelKind::user);
            CHECK(waiter.cancelling() == 1);
        }());
    }

    TEST_CASE("an outer cancel after the timeout, while the inner task cleans up, wins") {
        run_test([]() -> Task<void> {
            InnerLog log;
            TaskHandle<int> inner = spawn(inner_with_cleanup(&log));
            auto body = [](TaskHandle<int> h) -> Task<Ended<int>> {
                Ended<int> out = co_await outcome_of(wait_for(h, 2ms));
                co_return out;
            };
            TaskHandle<Ended<int>> waiter = spawn(body(inner));
            co_await sleep(10ms);  // the timeout fired; the inner task is in its 20 ms cleanup
            CHECK(log.cancelled);
            CHECK_FALSE(log.cleanup_done);
            waiter.cancel("late stop");
            Ended<int> out = co_await waiter;
            REQUIRE(out.threw<CancelledError>());
            CHECK_FALSE(out.threw<TimeoutError>());
            CHECK(out.as<CancelledError>()->message() == "late stop");
            CHECK(log.cleanup_done);
        }());
    }

    TEST_CASE("wait_for returns the value of an inner task that refuses the timeout") {
        run_test([]() -> Task<void> {
            InnerLog log;
            const int v = co_await wait_for(refusing(42, &log), 2ms);
            CHECK(log.cancelled);
            CHECK(log.cleanup_done);
            CHECK(v == 42);
            CHECK(this_task::cancelling() == 0);
            CHECK_FALSE(this_task::cancel_requested());
            co_await yield_now();  // no stray cancel
        }());
    }

    TEST_CASE("a refusing inner task's value is returned and an outer cancel stays pending") {
        // A joined task (a handle) refuses the cancel passed on to it: the waiter's own request
        // was not delivered to the waiter, so it stays pending (the join rule).
        run_test([]() -> Task<void> {
            InnerLog log;
            auto body = [](InnerLog* log) -> Task<int> {
                TaskHandle<int> inner = spawn(refusing(7, log));
                const int v = co_await wait_for(inner, 10s);
                CHECK(v == 7);
                CHECK(this_task::cancel_requested());
                co_await yield_now();  // the cancel, not swallowed, is delivered here
                co_return -1;
            };
            TaskHandle<int> task = spawn(body(&log));
            co_await sleep(2ms);
            task.cancel("outer");
            Ended<int> out = co_await settled(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "outer");
        }());
    }

    TEST_CASE("a refusing inline Task consumes the outer cancel: its value is returned and "
              "nothing stays pending") {
        // A Task runs inline in the waiting task: the outer cancel is delivered to the work
        // itself (one delivery), which refuses it.
        run_test([]() -> Task<void> {
            InnerLog log;
            auto body = [](InnerLog* log) -> Task<int> {
                const int v = co_await wait_for(refusing(7, log), 10s);
                CHECK(v == 7);
                CHECK_FALSE(this_task::cancel_requested());
                CHECK(this_task::cancelling() == 1);  // refused, not withdrawn
                co_await yield_now();
                co_return v;
            };
            TaskHandle<int> task = spawn(body(&log));
            co_await sleep(2ms);
            task.cancel("outer");
            const int v = co_await shield(task);
            CHECK(v == 7);
            CHECK(log.cancelled);
        }());
    }

    TEST_CASE("wait_for with a cancel already pending cancels the inner task too") {
        run_test([]() -> Task<void> {
            Event event;
            InnerLog log;
            auto body = [](Event* e, InnerLog* log) -> Task<Ended<int>> {
                co_await e->wait();
                // A cancel is pending now; a 0 ms timeout expires at once as well.
                Ended<int> out = co_await outcome_of(wait_for(inner_with_cleanup(log), 0ms));
                co_return out;
            };
            const std::size_t before = Loop::current()->live_tasks();
            TaskHandle<Ended<int>> task = spawn(body(&event, &log));
            co_await sleep(2ms);
            event.set();
            task.cancel("early");
            Ended<int> out = co_await task;
            REQUIRE(out.threw<CancelledError>());
            CHECK_FALSE(out.threw<TimeoutError>());
            CHECK(out.as<CancelledError>()->message() == "early");
            CHECK(Loop::current()->live_tasks() == before);  // the inner task ended too
        }());
    }

    TEST_CASE("wait_for on an awaitable is atomic: a timed-out pop takes nothing") {
        run_test([]() -> Task<void> {
            Queue<int> queue;
            CHECK(queue.try_push(1));
            Ended<int> out = co_await outcome_of(wait_for(queue.pop(), 0ms));
            CHECK(out.threw<TimeoutError>());
            CHECK(queue.size() == 1);  // the item is still there
            Ended<int> empty = co_await outcome_of(wait_for(Queue<int>{}.pop(), 2ms));
            CHECK(empty.threw<TimeoutError>());
        }());
    }

    TEST_CASE("wait_for rejects a bad duration at the call and an empty handle when awaited") {
        CHECK_THROWS_AS((void)wait_for(value_after(1ms, 1), -1ms), InvalidDurationError);
        CHECK_THROWS_AS((void)wait_for(TaskHandle<int>{}, -1ms), InvalidDurationError);
        run_test([]() -> Task<void> {
            Ended<int> out = co_await outcome_of(wait_for(TaskHandle<int>{}, 1s));
            CHECK(out.threw<InvalidStateError>());
        }());
    }

    TEST_CASE("an inner failure propagates through wait_for unchanged") {
        run_test([]() -> Task<void> {
            auto failing = []() -> Task<int> {
                co_await sleep(1ms);
                throw std::runtime_error("inner failed");
            };
            Ended<int> out = co_await outcome_of(wait_for(failing(), 10s));
            REQUIRE(out.threw<std::runtime_error>());
            CHECK(std::string(out.as<std::runtime_error>()->what()) == "inner failed");
        }());
    }
}
