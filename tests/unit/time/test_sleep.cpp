// sleep() and sleep_until() (docs/semantics.md §3.3, §6): a sleep that completed before the
// cancel reached it, bad durations, and awaiting a sleep outside a task.
#include <uvtask/sleep.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <cmath>
#include <string>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::block_thread_for;
using uvtask::testing::cancel_of;
using uvtask::testing::catch_and_return;
using uvtask::testing::Clock;
using uvtask::testing::contains;
using uvtask::testing::join;
using uvtask::testing::outside_task_error;
using uvtask::testing::Reports;
using uvtask::testing::result_cancel;
using uvtask::testing::run_test;
using uvtask::testing::run_until;
using uvtask::testing::set_flag;
using uvtask::testing::set_flag_and_return;
using uvtask::testing::sleep_and_record;
using uvtask::testing::sleep_catching_cancel;
using uvtask::testing::sleep_for;
using uvtask::testing::sleep_forever;
using uvtask::testing::SleepRecord;
using uvtask::testing::yield_once;
using uvtask::testing::yield_until;

TEST_SUITE("sleep") {
    namespace {
    struct CompletedSleepRecord {
        bool asleep = false;
        bool sleep_threw = false;
        bool sleep_returned = false;
        bool requested_when_sleep_returned = false;
        bool next_yield_threw = false;
        std::string message;
    };
    Task<void> sleeping_victim(CompletedSleepRecord* record) {
        record->asleep = true;
        auto in_sleep = co_await cancel_of(sleep_for(1ms));
        if (in_sleep) {
            record->sleep_threw = true;  // the sleep had completed: this breaks §3.3
            co_return;
        }
        record->sleep_returned = true;
        record->requested_when_sleep_returned = this_task::cancel_requested();
        auto next = co_await cancel_of(yield_once());
        if (next) {
            record->next_yield_threw = true;
            record->message = next->message();
            co_return;
        }
        // The cancel had not arrived when the sleep returned (a rare scheduling, see the test):
        // wait for it, so that the attempt ends.
        for (int i = 0; i < 1'000'000; ++i) {
            auto later = co_await cancel_of(yield_once());
            if (later) {
                co_return;
            }
        }
    }
    struct LateCancel {
        TaskHandle<void> victim;
        bool cancel_returned = false;
    };
    void cancel_from_timer(uv_timer_t* timer) {
        auto* late = static_cast<LateCancel*>(timer->data);
        late->cancel_returned = late->victim.cancel("too late for the sleep");
    }
    }  // namespace

    TEST_CASE(
        "3.3 a sleep that completed before the cancel reached it delivers its result and the "
        "cancel waits for the next suspension point") {
        run_test([]() -> Task<void> {
            // The victim parks in a 1 ms sleep; the thread is then held until its deadline has
            // certainly passed, and a libuv timer of ours is armed, due now. On the next turn
            // libuv runs its due timers earliest first: the runtime's (which wakes the victim:
            // its sleep completed), then ours, which cancels the victim before it resumed.
            // If the runtime's timer fired already before we held the thread (the thread was
            // preempted for over 1 ms in between), the victim resumes before the cancel exists:
            // that attempt proves nothing and is repeated.
            static uv_timer_t timers[10];  // static: closed after the test task ends
            bool exercised = false;
            for (uv_timer_t& timer : timers) {
                CompletedSleepRecord record;
                TaskHandle<void> victim = spawn(sleeping_victim(&record));
                co_await yield_now();
                REQUIRE(record.asleep);
                block_thread_for(5ms);
                LateCancel late{victim};
                uv_loop_t* loop = Loop::current()->native();
                uv_timer_init(loop, &timer);
                timer.data = &late;
                uv_update_time(loop);
                uv_timer_start(&timer, &cancel_from_timer, 0, 0);
                auto error = co_await cancel_of(join(victim));
                uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
                CHECK_FALSE(error.has_value());  // the victim caught the error itself
                CHECK(late.cancel_returned);
                CHECK_FALSE(record.sleep_threw);
                if (record.sleep_threw || !record.requested_when_sleep_returned) {
                    continue;
                }
                exercised = true;
                CHECK(record.sleep_returned);
                CHECK(record.next_yield_threw);
                CHECK(record.message == "too late for the sleep");
                break;
            }
            CHECK(exercised);
        }());
    }

    TEST_CASE("6 sleep() awaited outside a task is an InvalidStateError") {
        CHECK(contains(outside_task_error([] { return sleep(1ms); }), "sleep()"));
        CHECK(contains(
            outside_task_error([] { return sleep_until(std::chrono::steady_clock::now()); }),
            "outside"));
    }

    TEST_CASE("6 negative and NaN durations are an InvalidDurationError at the call") {
        CHECK_THROWS_AS((void)sleep(-1ms), InvalidDurationError);
        CHECK_THROWS_AS((void)sleep(-1ns), InvalidDurationError);
        CHECK_THROWS_AS((void)sleep(std::chrono::duration<double>(NAN)), InvalidDurationError);
        CHECK_THROWS_AS((void)sleep(std::chrono::duration<double>(-0.5)), InvalidDurationError);
        const std::chrono::time_point<std::chrono::steady_clock, std::chrono::duration<double>>
            nan_deadline{std::chrono::duration<double>(NAN)};
        CHECK_THROWS_AS((void)sleep_until(nan_deadline), InvalidDurationError);
        run_test([]() -> Task<void> {
            // Inside a task, at the call: nothing was awaited, the task goes on.
            try {
                co_await sleep(-5ms);
                FAIL("a negative sleep was awaited");
            } catch (const InvalidDurationError& e) {
                CHECK(contains(e.what(), "negative"));
            }
            try {
                co_await sleep(std::chrono::duration<double, std::milli>(NAN));
                FAIL("a NaN sleep was awaited");
            } catch (const InvalidDurationError& e) {
                CHECK(contains(e.what(), "NaN"));
            }
            co_await sleep(0ms);  // zero is fine
        }());
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            CHECK_THROWS_AS(adopted.set_time_slice(-1ns), InvalidDurationError);
            adopted.set_time_slice(0ns);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }
}
