// non_cancellable() and with_cleanup() (docs/semantics.md §3.7): requests held back and
// delivered at the first suspension point after; an awaited task is not cancelled; cleanup
// always runs.
#include <uvtask/non_cancellable.hpp>

#include <doctest/doctest.h>

#include <optional>

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

TEST_SUITE("non_cancellable") {
    namespace {
    struct HoldRecord {
        bool inside = false;
        bool sleep_completed = false;
        bool yield_completed = false;
        bool checkpoint_completed = false;
        bool nested_completed = false;
        bool after_hold = false;
        int cancelling_after_hold = -1;
        std::optional<CancelledError> delivered;
    };
    Task<void> nested_hold(HoldRecord* record) {
        co_await yield_now();
        record->nested_completed = true;
    }
    Task<void> critical_work(HoldRecord* record) {
        record->inside = true;
        co_await sleep(2ms);  // the cancel arrives while we sleep here
        record->sleep_completed = true;
        co_await yield_now();
        record->yield_completed = true;
        co_await checkpoint();
        record->checkpoint_completed = true;
        co_await non_cancellable(nested_hold(record));  // an inner hold ending releases nothing
        co_await yield_now();
    }
    Task<void> hold_then_continue(HoldRecord* record) {
        co_await non_cancellable(critical_work(record));
        record->after_hold = true;  // no suspension point yet: nothing thrown
        record->cancelling_after_hold = this_task::cancelling();
        record->delivered = co_await cancel_of(yield_once());
    }
    Task<int> hold_a_join(TaskHandle<int> target) {
        const int value = co_await non_cancellable(join(target));
        co_return value;
    }
    Task<int> sleep_then_return(int value) {
        co_await sleep(2ms);
        co_return value;
    }
    }  // namespace

    TEST_CASE(
        "3.7 non_cancellable holds requests back and delivers them at the first suspension "
        "point after") {
        run_test([]() -> Task<void> {
            HoldRecord record;
            auto task = spawn(hold_then_continue(&record));
            co_await yield_now();
            REQUIRE(record.inside);
            CHECK(task.cancel("held"));
            CHECK(task.cancel("held twice"));
            co_await task;
            CHECK(record.sleep_completed);
            CHECK(record.yield_completed);
            CHECK(record.checkpoint_completed);
            CHECK(record.nested_completed);
            CHECK(record.after_hold);
            CHECK(record.cancelling_after_hold == 2);
            REQUIRE(record.delivered.has_value());
            CHECK(record.delivered->message() == "held twice");
        }());
    }

    TEST_CASE("3.7 non_cancellable does not pass a cancel on to a task it awaits") {
        run_test([]() -> Task<void> {
            auto target = spawn(sleep_then_return(11));
            auto holder = spawn(hold_a_join(target));
            co_await yield_now();
            holder.cancel("later");
            auto error = co_await cancel_of(join(holder));
            CHECK_FALSE(target.cancelled());
            CHECK(target.cancelling() == 0);
            CHECK(target.result() == 11);
            // The holder returned the value right after its hold: no suspension point to deliver
            // at.
            CHECK_FALSE(error.has_value());
            CHECK(holder.result() == 11);
            CHECK(holder.cancelling() == 1);
        }());
    }

    namespace {
    struct CleanupRecord {
        bool body_started = false;
        bool cleanup_started = false;
        bool cleanup_sleep_completed = false;
        bool cleanup_finished = false;
        std::optional<CancelledError> rethrown;
        std::optional<CancelledError> next_suspension;
    };
    Task<int> cleanup_body(CleanupRecord* record) {
        record->body_started = true;
        co_await sleep(1h);
        co_return 1;
    }
    Task<void> cleanup(CleanupRecord* record) {
        record->cleanup_started = true;
        co_await sleep(2ms);  // a second cancel arrives here and does not interrupt it
        record->cleanup_sleep_completed = true;
        co_await yield_now();
        record->cleanup_finished = true;
    }
    Task<void> run_with_cleanup(CleanupRecord* record) {
        record->rethrown = co_await cancel_of(with_cleanup(cleanup_body(record), cleanup(record)));
        record->next_suspension = co_await cancel_of(yield_once());
    }
    Task<int> cleanup_noop(bool* ran) {
        *ran = true;
        co_return 0;
    }
    Task<void> note_cleanup(bool* ran) {
        *ran = true;
        co_return;
    }
    }  // namespace

    TEST_CASE(
        "3.7 with_cleanup runs cleanup non-cancellably after a cancelled body and rethrows "
        "CancelledError") {
        run_test([]() -> Task<void> {
            CleanupRecord record;
            auto task = spawn(run_with_cleanup(&record));
            co_await yield_now();
            REQUIRE(record.body_started);
            task.cancel("body");
            co_await yield_until(&record.cleanup_started);
            task.cancel("during cleanup");
            co_await task;
            CHECK(record.cleanup_sleep_completed);
            CHECK(record.cleanup_finished);
            REQUIRE(record.rethrown.has_value());
            CHECK(record.rethrown->message() == "body");
            REQUIRE(record.next_suspension.has_value());
            CHECK(record.next_suspension->message() == "during cleanup");

            // Without a cancel: the body's value, after the cleanup ran.
            bool body_ran = false;
            bool cleanup_ran = false;
            const int value =
                co_await with_cleanup(cleanup_noop(&body_ran), note_cleanup(&cleanup_ran));
            CHECK(value == 0);
            CHECK(body_ran);
            CHECK(cleanup_ran);
        }());
    }
}
