// yield_now() and checkpoint() (docs/semantics.md §3.8, §6): behind every ready task, fair to
// timers, a pending cancel thrown at once, the time slice, and awaiting them outside a task.
#include <uvtask/yield.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <string>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::assume_fifo_schedule;
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

TEST_SUITE("yield") {
    namespace {
    Task<void> append_three_times(std::vector<int>* order, int id) {
        for (int i = 0; i < 3; ++i) {
            order->push_back(id);
            co_await yield_now();
        }
    }
    Task<void> set_after_sleep(bool* flag) {
        co_await sleep(1ms);
        *flag = true;
    }
    struct YieldCancelRecord {
        TaskHandle<void>* self = nullptr;
        const bool* other_ran = nullptr;
        bool other_ran_before_throw = true;
        bool threw = false;
    };
    Task<void> cancel_self_then_yield(YieldCancelRecord* record) {
        record->self->cancel("pending");
        try {
            co_await yield_now();
        } catch (const CancelledError&) {
            record->threw = true;
            record->other_ran_before_throw = *record->other_ran;
        }
    }
    }  // namespace

    TEST_CASE("3.8 yield_now goes behind every ready task") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned tasks
            std::vector<int> order;
            auto a = spawn(append_three_times(&order, 1));
            auto b = spawn(append_three_times(&order, 2));
            auto c = spawn(append_three_times(&order, 3));
            co_await a;
            co_await b;
            co_await c;
            CHECK(order == std::vector<int>{1, 2, 3, 1, 2, 3, 1, 2, 3});
        }());
    }

    TEST_CASE("3.8 a task yielding in a loop still lets a due timer fire") {
        run_test([]() -> Task<void> {
            bool fired = false;
            auto sleeper = spawn(set_after_sleep(&fired));
            // Only the timer can end this loop; a loop that never returned to libuv would spin
            // until the bound (minutes) and fail.
            const auto give_up = Clock::now() + 60s;
            while (!fired && Clock::now() < give_up) {
                co_await yield_now();
            }
            CHECK(fired);
            co_await sleeper;
        }());
    }

    TEST_CASE("3.8 yield_now throws a pending cancel at once") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned tasks
            bool other_ran = false;
            YieldCancelRecord record;
            record.other_ran = &other_ran;
            TaskHandle<void> handle = spawn(cancel_self_then_yield(&record));
            record.self = &handle;
            auto other = spawn(set_flag(&other_ran));  // ready behind it
            co_await handle;
            co_await other;
            CHECK(record.threw);
            CHECK_FALSE(record.other_ran_before_throw);  // thrown without suspending
        }());
    }

    namespace {
    struct CheckpointRecord {
        TaskHandle<void>* self = nullptr;
        const bool* other_ran = nullptr;
        bool other_ran_across_checkpoints = true;
        bool other_ran_before_throw = true;
        bool threw = false;
        std::string message;
    };
    Task<void> checkpoints_in_long_slice(CheckpointRecord* record) {
        for (int i = 0; i < 1000; ++i) {
            co_await checkpoint();
        }
        record->other_ran_across_checkpoints = *record->other_ran;
        // A task made ready just now must not run before the pending cancel is thrown (a fresh
        // one: with checkpoint_always_yields the first one ran during the loop above).
        bool late_ran = false;
        auto late = spawn(set_flag(&late_ran));
        record->self->cancel("checkpoint");
        try {
            co_await checkpoint();
        } catch (const CancelledError& e) {
            record->threw = true;
            record->message = e.message();
            record->other_ran_before_throw = late_ran;
        }
        co_await late;
    }
    Task<void> checkpoint_after_spinning(std::chrono::microseconds spin, const bool* other_ran,
                                         bool* yielded) {
        block_thread_for(spin);
        co_await checkpoint();
        *yielded = *other_ran;
    }
    }  // namespace

    TEST_CASE(
        "3.8 checkpoint throws a pending cancel and does not yield when the slice has not run "
        "out") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned tasks
            Loop::current()->set_time_slice(1h);
            bool other_ran = false;
            CheckpointRecord record;
            record.other_ran = &other_ran;
            TaskHandle<void> handle = spawn(checkpoints_in_long_slice(&record));
            record.self = &handle;
            auto other = spawn(set_flag(&other_ran));
            co_await handle;
            co_await other;
            CHECK(record.threw);
            CHECK(record.message == "checkpoint");
            CHECK_FALSE(record.other_ran_before_throw);
#ifndef UVTASK_CHECKPOINT_ALWAYS_YIELDS
            CHECK_FALSE(record.other_ran_across_checkpoints);
#endif
        }());
    }

    TEST_CASE("3.8 checkpoint yields once the time slice has run out") {
        run_test([]() -> Task<void> {
            // A zero slice: every checkpoint yields.
            Loop::current()->set_time_slice(0ns);
            bool other_ran = false;
            bool yielded = false;
            auto spinner = spawn(checkpoint_after_spinning(0us, &other_ran, &yielded));
            auto other = spawn(set_flag(&other_ran));
            co_await spinner;
            co_await other;
            CHECK(yielded);

            // A 1 ms slice, and 3 ms of work since the task was resumed before its first
            // checkpoint: the slice has run out, so that checkpoint yields.
            Loop::current()->set_time_slice(1ms);
            bool other_ran2 = false;
            bool yielded2 = false;
            auto spinner2 = spawn(checkpoint_after_spinning(3000us, &other_ran2, &yielded2));
            auto other2 = spawn(set_flag(&other_ran2));
            co_await spinner2;
            co_await other2;
            CHECK(yielded2);
        }());
    }

    TEST_CASE("6 yield_now() awaited outside a task is an InvalidStateError") {
        CHECK(contains(outside_task_error([] { return yield_now(); }), "yield_now()"));
        // Also with a loop on the thread, from code that is not a task.
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            CHECK(contains(outside_task_error([] { return yield_now(); }), "outside"));
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("6 checkpoint() awaited outside a task is an InvalidStateError") {
        CHECK(contains(outside_task_error([] { return checkpoint(); }), "outside"));
    }
}
