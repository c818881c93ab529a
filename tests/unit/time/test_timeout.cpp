// with_timeout(): a deadline inline in the current task — the value, TimeoutError only after
// the work ended, and every race with an outer cancel (docs/semantics.md §4).
// Deadline objects, nesting and move_on_after: test_timeout_deadline.cpp.
#include <uvtask/timeout.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
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

using Clock = std::chrono::steady_clock;

Task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await sleep(delay);
    co_return value;
}

Task<void> sleep_for(std::chrono::milliseconds delay) { co_await sleep(delay); }

/// Sleeps 10 s; records the CancelledError it gets and rethrows it.
Task<void> sleeper_recording(std::optional<CancelledError>* seen) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        *seen = e;
        throw;
    }
}

/// Refuses a cancel: catches the CancelledError and returns `value`.
Task<int> refusing(int value, bool* was_cancelled) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        *was_cancelled = true;
    }
    co_return value;
}

/// Waits for `event`, then returns 5.
Task<int> wait_event(Event* event) {
    co_await event->wait();
    co_return 5;
}

/// Runs `work` under `deadline` and returns the outcome.
template <class T>
Task<Ended<T>> under(Deadline* deadline, Task<T> work) {
    Ended<T> out = co_await outcome_of(deadline->run(std::move(work)));
    co_return out;
}

/// A task running `work` under `deadline` (its outcome is its result).
Task<Ended<void>> bounded_sleeper(Deadline* deadline) {
    Ended<void> out = co_await outcome_of(deadline->run(sleep_for(10s)));
    co_return out;
}

/// Gets the deadline's CancelledError, cleans up for 20 ms (cancellation held), rethrows it.
Task<void> timeout_then_slow_cleanup() {
    bool cancelled = false;
    CancelledError saved;
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        cancelled = true;
        saved = e;
    }
    if (cancelled) {
        co_await non_cancellable(sleep_for(20ms));
        throw saved;
    }
}

/// Asserts that no cancel request is left over: a suspension point passes.
Task<void> no_stray_cancel() {
    CHECK_FALSE(this_task::cancel_requested());
    co_await yield_now();
}

}  // namespace

TEST_SUITE("timeout") {
    TEST_CASE("with_timeout returns the work's value when it ends before the deadline") {
        run_test([]() -> Task<void> {
            const int v = co_await with_timeout(10s, value_after(1ms, 7));
            CHECK(v == 7);
            co_await no_stray_cancel();
        }());
    }

    TEST_CASE("with_timeout throws TimeoutError only after the work was cancelled and ended") {
        run_test([]() -> Task<void> {
            std::optional<CancelledError> seen;
            Ended<void> out = co_await outcome_of(with_timeout(20ms, sleeper_recording(&seen)));
            REQUIRE(out.threw<TimeoutError>());
            REQUIRE(seen.has_value());  // the work saw its cancellation before the TimeoutError
            CHECK(seen->kind() == CancelKind::timeout);
            CHECK(this_task::cancelling() == 0);
            co_await no_stray_cancel();
        }());
    }

    TEST_CASE("with_timeout runs the work inline in the current task") {
        run_test([]() -> Task<void> {
            const std::string outer = this_task::name();
            auto check_name = [](std::string expected) -> Task<void> {
                CHECK(this_task::name() == expected);
                co_return;
            };
            Task<void> work = check_name(outer);
            co_await with_timeout(10s, std::move(work));
        }());
    }

    TEST_CASE("a negative or NaN duration is an InvalidDurationError at the call") {
        CHECK_THROWS_AS((void)with_timeout(-1ms, sleep_for(1ms)), InvalidDurationError);
        CHECK_THROWS_AS((void)move_on_after(-1ms, sleep_for(1ms)), InvalidDurationError);
        const std::chrono::duration<double> nan{std::numeric_limits<double>::quiet_NaN()};
        CHECK_THROWS_AS((void)with_timeout(nan, sleep_for(1ms)), InvalidDurationError);
        CHECK_THROWS_AS((void)Deadline::after(nan), InvalidDurationError);
        CHECK_THROWS_AS((void)Deadline::after(-5s), InvalidDurationError);
        run_test([]() -> Task<void> {
            Deadline deadline = Deadline::never();
            CHECK_THROWS_AS(deadline.reschedule_after(-1ms), InvalidDurationError);
            co_return;
        }());
    }

    TEST_CASE("an outer cancel during with_timeout propagates as CancelledError, not TimeoutError") {
        run_test([]() -> Task<void> {
            auto body = []() -> Task<void> { co_await with_timeout(10s, sleep_for(10s)); };
            TaskHandle<void> task = spawn(body());
            co_await sleep(5ms);
            task.cancel("stop", CancelKind::user);
            Ended<void> out = co_await settled(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->kind() == CancelKind::user);
            CHECK(out.as<CancelledError>()->message() == "stop");
            CHECK(task.cancelled());
        }());
    }

    TEST_CASE("a timeout and an outer cancel in the same loop tick give CancelledError") {
        // Both orders: the deadline expiring first, then the cancel; and the other way round.
        // Deadline::reschedule into the past expires it synchronously, exactly like its timer.
        for (const bool deadline_first : {true, false}) {
            CAPTURE(deadline_first);
            run_test([](bool deadline_first) -> Task<void> {
                Deadline deadline = Deadline::after(10s);
                TaskHandle<Ended<void>> task = spawn(bounded_sleeper(&deadline));
                co_await sleep(2ms);  // the task sleeps inside the deadline
                if (deadline_first) {
                    deadline.reschedule(Clock::now() - 1ms);
                    task.cancel("user stop");
                } else {
                    task.cancel("user stop");
                    deadline.reschedule(Clock::now() - 1ms);
                }
                Ended<void> out = co_await task;
                REQUIRE(out.threw<CancelledError>());
                CHECK_FALSE(out.threw<TimeoutError>());
                CHECK(out.as<CancelledError>()->kind() == CancelKind::user);
                CHECK(out.as<CancelledError>()->message() == "user stop");
                CHECK(deadline.expired());
                CHECK(task.cancelling() == 1);  // the user's request is still counted
            }(deadline_first));
        }
    }

    TEST_CASE("a work that refuses the timeout's cancellation returns its value") {
        run_test([]() -> Task<void> {
            bool was_cancelled = false;
            const int v = co_await with_timeout(10ms, refusing(9, &was_cancelled));
            CHECK(was_cancelled);
            CHECK(v == 9);
            CHECK(this_task::cancelling() == 0);
            co_await no_stray_cancel();
        }());
    }

    TEST_CASE("a value completed in the same tick as the expiry is returned, nothing left pending") {
        run_test([]() -> Task<void> {
            Event event;
            Deadline deadline = Deadline::after(10s);
            auto trigger = [](Event* e, Deadline* d) -> Task<void> {
                co_await sleep(2ms);
                e->set();                            // the work is woken with its result…
                d->reschedule(Clock::now() - 1ms);  // …and the deadline expires before it runs
            };
            TaskHandle<void> t = spawn(trigger(&event, &deadline));
            Ended<int> out = co_await under(&deadline, wait_event(&event));
            REQUIRE(out.ok());
            CHECK(*out.value == 5);
            CHECK(deadline.expired());
            CHECK(this_task::cancelling() == 0);
            co_await no_stray_cancel();
            co_await t;
        }());
    }

    TEST_CASE("a task already cancelled once still gets TimeoutError from its own deadline") {
        // The cleanup pattern: cancelled, the task catches it and bounds its cleanup.
        run_test([]() -> Task<void> {
            auto body = []() -> Task<bool> {
                bool timed_out = false;
                try {
                    co_await sleep(10s);
                } catch (const CancelledError&) {
                }
                CHECK(this_task::cancelling() == 1);
                Ended<void> out = co_await outcome_of(with_timeout(10ms, sleep_for(10s)));
                timed_out = out.threw<TimeoutError>();
                CHECK(this_task::cancelling() == 1);
                co_return timed_out;
            };
            TaskHandle<bool> task = spawn(body());
            co_await sleep(2ms);
            task.cancel();
            const bool timed_out = co_await shield(task);
            CHECK(timed_out);
        }());
    }

    TEST_CASE("a cancel pending when the deadline's work starts is not taken for the deadline's") {
        // cancelling() counts the pending request; the deadline must not mistake its delivery
        // inside the work for its own cancellation (even with a 0 ms deadline).
        run_test([]() -> Task<void> {
            Event event;
            auto body = [](Event* e) -> Task<Ended<void>> {
                co_await e->wait();  // completes, and a cancel arrives before we run
                CHECK(this_task::cancel_requested());
                Ended<void> out = co_await outcome_of(with_timeout(0ms, sleep_for(10s)));
                co_return out;
            };
            TaskHandle<Ended<void>> task = spawn(body(&event));
            co_await sleep(2ms);
            event.set();
            task.cancel("early");
            Ended<void> inner = co_await task;
            REQUIRE(inner.threw<CancelledError>());
            CHECK_FALSE(inner.threw<TimeoutError>());
            CHECK(inner.as<CancelledError>()->message() == "early");
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("a cancel arriving while the work unwinds the deadline's error wins, with its reason") {
        // The deadline's CancelledError is on its way out when a user cancel arrives (held by the
        // cleanup): the scope throws the user's error once, not the deadline's now and the
        // user's again at the next suspension point.
        run_test([]() -> Task<void> {
            auto body = []() -> Task<bool> {
                Ended<void> out = co_await outcome_of(with_timeout(2ms, timeout_then_slow_cleanup()));
                REQUIRE(out.threw<CancelledError>());
                CHECK(out.as<CancelledError>()->kind() == CancelKind::user);
                CHECK(out.as<CancelledError>()->message() == "user");
                co_return this_task::cancel_requested();
            };
            TaskHandle<bool> task = spawn(body());
            co_await sleep(8ms);  // the deadline fired at 2 ms; the cleanup runs until ~22 ms
            task.cancel("user");
            const bool still_pending = co_await shield(task);
            CHECK_FALSE(still_pending);
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("a deadline inside non_cancellable cannot interrupt the work; nothing is left pending") {
        run_test([]() -> Task<void> {
            const int v = co_await non_cancellable(with_timeout(2ms, value_after(20ms, 5)));
            CHECK(v == 5);
            CHECK(this_task::cancelling() == 0);
            co_await no_stray_cancel();
        }());
    }
}
