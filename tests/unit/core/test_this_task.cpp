// this_task (docs/semantics.md §3.9): code that cannot suspend sees a cancel request.
#include <uvtask/this_task.hpp>

#include <doctest/doctest.h>

#include <stop_token>

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

TEST_SUITE("this_task") {
    namespace {
    struct NoSuspendRecord {
        TaskHandle<void>* self = nullptr;
        bool requested_before = true;
        bool token_before = true;
        bool requested_after_cancel = false;
        bool token_after_cancel = false;
        bool callback_ran = false;
        bool requested_after_delivery = true;
        bool token_after_delivery = false;
        bool late_token_requested = false;
        bool delivered = false;
    };
    Task<void> observe_without_suspending(NoSuspendRecord* record) {
        std::stop_token token = this_task::stop_token();
        std::stop_callback callback(token, [record]() noexcept { record->callback_ran = true; });
        record->requested_before = this_task::cancel_requested();
        record->token_before = token.stop_requested();
        record->self->cancel("see me");
        // Code that cannot suspend sees the request at once.
        record->requested_after_cancel = this_task::cancel_requested();
        record->token_after_cancel = token.stop_requested();
        record->late_token_requested = this_task::stop_token().stop_requested();
        auto error = co_await cancel_of(yield_once());
        record->delivered = error.has_value();
        // Delivered: no request is pending any more, but a stop token cannot be reset.
        record->requested_after_delivery = this_task::cancel_requested();
        record->token_after_delivery = token.stop_requested();
    }
    }  // namespace

    TEST_CASE(
        "3.9 this_task::cancel_requested and stop_token see the request from code that cannot "
        "suspend") {
        run_test([]() -> Task<void> {
            NoSuspendRecord record;
            TaskHandle<void> handle = spawn(observe_without_suspending(&record));
            record.self = &handle;
            co_await handle;
            CHECK_FALSE(record.requested_before);
            CHECK_FALSE(record.token_before);
            CHECK(record.requested_after_cancel);
            CHECK(record.token_after_cancel);
            CHECK(record.callback_ran);
            CHECK(record.late_token_requested);
            CHECK(record.delivered);
            CHECK_FALSE(record.requested_after_delivery);
            CHECK(record.token_after_delivery);
        }());
    }

    TEST_CASE(
        "3.9 outside a task cancel_requested() is false and stop_token() is an "
        "InvalidStateError") {
        CHECK_FALSE(this_task::cancel_requested());
        CHECK_THROWS_AS((void)this_task::stop_token(), InvalidStateError);
    }
}
