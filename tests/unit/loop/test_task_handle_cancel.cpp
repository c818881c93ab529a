// TaskHandle::cancel(), cancelling() and uncancel() (docs/semantics.md §3.1–§3.5): what cancel()
// does, where CancelledError is delivered, one delivery per request, refusing, withdrawing
// requests, and how a task ends cancelled.
#include <uvtask/task_handle.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <stdexcept>
#include <string>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::block_thread_for;
using uvtask::testing::cancel_of;
using uvtask::testing::catch_and_return;
using uvtask::testing::Clock;
using uvtask::testing::join;
using uvtask::testing::result_cancel;
using uvtask::testing::run_test;
using uvtask::testing::set_flag;
using uvtask::testing::set_flag_and_return;
using uvtask::testing::sleep_and_record;
using uvtask::testing::sleep_catching_cancel;
using uvtask::testing::sleep_for;
using uvtask::testing::sleep_forever;
using uvtask::testing::SleepRecord;
using uvtask::testing::yield_once;
using uvtask::testing::yield_until;

namespace {

Task<int> returns(int value) { co_return value; }

}  // namespace

TEST_SUITE("task_handle") {
    namespace {
    Task<void> refuse_and_record(SleepRecord* record) { co_await sleep_and_record(record); }
    Task<int> returns_five() { co_return 5; }
    }  // namespace

    TEST_CASE("3.1 cancel() on a pending task returns true, counts, and the latest message wins") {
        run_test([]() -> Task<void> {
            // Suspended in a sleep: both requests reach the task before it resumes.
            SleepRecord record;
            auto sleeper = spawn(refuse_and_record(&record));
            co_await yield_now();  // the sleeper parks in its sleep
            CHECK(sleeper.cancelling() == 0);
            CHECK(sleeper.cancel("first"));
            CHECK(sleeper.cancelling() == 1);
            CHECK(sleeper.cancel("second"));
            CHECK(sleeper.cancelling() == 2);
            CHECK_FALSE(sleeper.done());
            co_await sleeper;
            CHECK(record.caught);
            CHECK(record.message == "second");

            // Not started yet: it ends cancelled with the latest message.
            bool ran = false;
            auto fresh = spawn(set_flag(&ran));
            CHECK(fresh.cancel("a"));
            CHECK(fresh.cancel("b"));
            CHECK(fresh.cancelling() == 2);
            auto error = co_await cancel_of(join(fresh));
            REQUIRE(error.has_value());
            CHECK(error->message() == "b");
            CHECK_FALSE(ran);
        }());
    }

    TEST_CASE("3.1 cancel() on a done task returns false and changes nothing") {
        run_test([]() -> Task<void> {
            auto finished = spawn(returns_five());
            const int five = co_await finished;
            CHECK(five == 5);
            CHECK_FALSE(finished.cancel("late"));
            CHECK(finished.cancelling() == 0);
            CHECK_FALSE(finished.cancelled());
            CHECK(finished.result() == 5);
            const int again = co_await finished;
            CHECK(again == 5);

            // A task that ended cancelled keeps its count and its message.
            auto cancelled = spawn(sleep_forever());
            co_await yield_now();
            CHECK(cancelled.cancel("original"));
            auto first = co_await cancel_of(join(cancelled));
            REQUIRE(first.has_value());
            CHECK_FALSE(cancelled.cancel("late"));
            CHECK(cancelled.cancelling() == 1);
            auto second = co_await cancel_of(join(cancelled));
            REQUIRE(second.has_value());
            CHECK(second->message() == "original");
        }());
    }

    TEST_CASE("cancel() on a done task returns false and changes nothing") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns(3));
            co_await h;
            CHECK_FALSE(h.cancel("too late"));
            CHECK(h.cancelling() == 0);
            CHECK_FALSE(h.cancelled());
            CHECK(h.result() == 3);
        }());
    }

    namespace {
    struct YieldRecord {
        bool parked = false;
        bool caught = false;
        std::string message;
    };
    Task<void> yield_and_record(YieldRecord* record) {
        record->parked = true;
        auto error = co_await cancel_of(yield_once());
        if (error) {
            record->caught = true;
            record->message = error->message();
        }
    }
    Task<void> join_and_record(TaskHandle<void> target, SleepRecord* record) {
        try {
            co_await target;
        } catch (const CancelledError& e) {
            record->caught = true;
            record->message = e.message();
        }
    }
    }  // namespace

    TEST_CASE("3.2 a suspended task receives CancelledError at once, wherever it is suspended") {
        run_test([]() -> Task<void> {
            // In a sleep: the timer is stopped and the task is the next to run.
            SleepRecord in_sleep;
            auto sleeper = spawn(sleep_and_record(&in_sleep));
            co_await yield_now();
            CHECK(sleeper.cancel("wake up"));
            co_await yield_now();  // behind the woken sleeper
            CHECK(in_sleep.caught);
            CHECK(in_sleep.message == "wake up");
            CHECK(sleeper.done());

            // In the ready queue after yield_now(): it resumes with the error.
            YieldRecord in_yield;
            auto yielder = spawn(yield_and_record(&in_yield));
            co_await yield_now();  // the yielder runs and queues behind us
            REQUIRE(in_yield.parked);
            CHECK(yielder.cancel("queued"));
            co_await yield_now();
            CHECK(in_yield.caught);
            CHECK(in_yield.message == "queued");

            // In a join: the awaited task is cancelled, and the waiter gets its error.
            SleepRecord in_join;
            auto target = spawn(sleep_forever());
            auto joiner = spawn(join_and_record(target, &in_join));
            co_await yield_now();
            CHECK(joiner.cancel("stop join"));
            co_await yield_now();  // the target runs its cancellation and ends
            co_await yield_now();  // the joiner resumes
            CHECK(target.cancelled());
            CHECK(in_join.caught);
            CHECK(in_join.message == "stop join");

            // A cancelled sleep's timer is gone: its deadline passing later touches nothing
            // (under ASan a stale timer node would be a use-after-free). The frame that held
            // the timer node is freed before the deadline.
            auto short_sleep = spawn(sleep_catching_cancel(20ms));
            co_await yield_now();
            short_sleep.cancel("short");
            co_await short_sleep;
            co_await sleep(30ms);
        }());
    }

    namespace {
    struct RunningRecord {
        TaskHandle<void>* self = nullptr;
        bool cancel_returned = false;
        bool reached_next_statement = false;
        bool requested_before_suspension = false;
        bool caught_at_suspension = false;
        std::string message;
    };
    Task<void> cancel_self_while_running(RunningRecord* record) {
        record->cancel_returned = record->self->cancel("self");
        record->reached_next_statement = true;  // no suspension since cancel(): no error yet
        record->requested_before_suspension = this_task::cancel_requested();
        try {
            co_await yield_now();
        } catch (const CancelledError& e) {
            record->caught_at_suspension = true;
            record->message = e.message();
        }
    }
    }  // namespace

    TEST_CASE("3.2 a running task receives it at its next suspension point, not before") {
        run_test([]() -> Task<void> {
            RunningRecord record;
            TaskHandle<void> handle = spawn(cancel_self_while_running(&record));
            record.self = &handle;
            co_await handle;
            CHECK(record.cancel_returned);
            CHECK(record.reached_next_statement);
            CHECK(record.requested_before_suspension);
            CHECK(record.caught_at_suspension);
            CHECK(record.message == "self");
        }());
    }

    namespace {
    Task<int> catch_then_await_normally(bool* later_awaits_ok) {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        // The request was delivered once: every later suspension point runs normally.
        co_await sleep(1ms);
        co_await yield_now();
        co_await checkpoint();
        auto helper = spawn(returns_five());
        const int five = co_await helper;
        *later_awaits_ok = five == 5;
        co_return 1;
    }
    struct UncancelRecord {
        int cancelling_after_catch = -1;
        int cancelling_after_more_awaits = -1;
        int after_uncancel = -1;
    };
    Task<void> catch_then_uncancel(UncancelRecord* record) {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        record->cancelling_after_catch = this_task::cancelling();
        co_await yield_now();
        co_await sleep(1ms);
        record->cancelling_after_more_awaits = this_task::cancelling();
        record->after_uncancel = this_task::uncancel();
    }
    }  // namespace

    TEST_CASE("3.4 one delivery per request: after catching, later awaits run normally") {
        run_test([]() -> Task<void> {
            bool later_awaits_ok = false;
            auto task = spawn(catch_then_await_normally(&later_awaits_ok));
            co_await yield_now();
            CHECK(task.cancel("once"));
            const int result = co_await task;
            CHECK(result == 1);
            CHECK(later_awaits_ok);
        }());
    }

    TEST_CASE(
        "3.4 a task that catches and returns a value is not cancelled() and its value is the "
        "result") {
        run_test([]() -> Task<void> {
            auto task = spawn(catch_and_return(42));
            co_await yield_now();
            CHECK(task.cancel("refused"));
            const int value = co_await task;
            CHECK(value == 42);
            CHECK(task.done());
            CHECK_FALSE(task.cancelled());
            CHECK(task.result() == 42);
            CHECK(task.exception() == nullptr);
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("3.4 cancelling() stays raised until uncancel()") {
        run_test([]() -> Task<void> {
            UncancelRecord record;
            auto task = spawn(catch_then_uncancel(&record));
            co_await yield_now();
            task.cancel();
            co_await task;
            CHECK(record.cancelling_after_catch == 1);
            CHECK(record.cancelling_after_more_awaits == 1);
            CHECK(record.after_uncancel == 0);
            CHECK(task.cancelling() == 0);
            CHECK(task.uncancel() == 0);  // never below zero
        }());
    }

    namespace {
    struct PendingRecord {
        TaskHandle<void>* self = nullptr;
        int after_first_uncancel = -1;
        bool delivered_with_one_left = false;
        bool delivered_after_all_withdrawn = true;
    };
    Task<void> uncancel_pending_requests(PendingRecord* record) {
        // Two requests, one withdrawn: one is still outstanding and is delivered.
        record->self->cancel("one");
        record->self->cancel("two");
        record->after_first_uncancel = record->self->uncancel();
        auto first = co_await cancel_of(yield_once());
        record->delivered_with_one_left = first.has_value();
        // A request withdrawn before delivery (count back to zero) is dropped (asyncio 3.13).
        record->self->uncancel();
        record->self->cancel("three");
        record->self->uncancel();
        auto second = co_await cancel_of(yield_once());
        record->delivered_after_all_withdrawn = second.has_value();
    }
    }  // namespace

    TEST_CASE("3.4 uncancel() withdraws requests: the last withdrawal drops an undelivered one") {
        run_test([]() -> Task<void> {
            PendingRecord record;
            TaskHandle<void> handle = spawn(uncancel_pending_requests(&record));
            record.self = &handle;
            co_await handle;
            CHECK(record.after_first_uncancel == 1);
            CHECK(record.delivered_with_one_left);
            CHECK_FALSE(record.delivered_after_all_withdrawn);
            CHECK(handle.cancelling() == 0);
            CHECK_FALSE(handle.cancelled());
        }());
    }

    namespace {
    Task<void> catch_and_throw_other() {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        throw std::runtime_error("replaced");
    }
    }  // namespace

    TEST_CASE(
        "3.5 CancelledError escaping the body ends the task cancelled; awaiting it rethrows the "
        "same message") {
        run_test([]() -> Task<void> {
            auto task = spawn(sleep_forever());
            co_await yield_now();
            CHECK(task.cancel("bye"));
            auto first = co_await cancel_of(join(task));
            REQUIRE(first.has_value());
            CHECK(first->message() == "bye");
            CHECK(task.done());
            CHECK(task.cancelled());
            auto second = co_await cancel_of(join(task));  // every join sees it
            REQUIRE(second.has_value());
            CHECK(second->message() == "bye");
            auto from_result = result_cancel(task);
            REQUIRE(from_result.has_value());
            CHECK(from_result->message() == "bye");
            CHECK_THROWS_AS((void)task.exception(), CancelledError);

            // Catching it and throwing something else ends the task failed, not cancelled.
            auto other = spawn(catch_and_throw_other());
            co_await yield_now();
            other.cancel();
            bool runtime_error = false;
            try {
                co_await other;
            } catch (const std::runtime_error&) {
                runtime_error = true;
            }
            CHECK(runtime_error);
            CHECK_FALSE(other.cancelled());
            CHECK(other.exception() != nullptr);
        }());
    }
}
