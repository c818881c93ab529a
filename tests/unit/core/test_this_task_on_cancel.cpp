// this_task: cancel_requested(), stop_token() and on_cancel() — what code that cannot suspend
// sees of a cancel.
#include <uvtask/this_task.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

Task<void> sleep_briefly() { co_await sleep(2ms); }

struct Calls {
    int count = 0;
    std::thread::id thread;
    bool cancel_seen_in_callback = false;
    bool unregistered = false;
};

/// Registers an on_cancel callback, then sleeps until cancelled.
Task<void> registered_sleeper(Calls* calls) {
    auto registration = this_task::on_cancel([calls] {
        ++calls->count;
        calls->thread = std::this_thread::get_id();
        calls->cancel_seen_in_callback = this_task::cancel_requested();
    });
    co_await sleep(10s);
}

Task<void> registers_and_returns(Calls* calls) {
    {
        auto registration = this_task::on_cancel([calls] { ++calls->count; });
        co_await sleep(1ms);
    }  // unregistered here
    calls->unregistered = true;
    co_await sleep(10s);
}

}  // namespace

TEST_SUITE("this_task") {
    TEST_CASE("on_cancel runs its callback once, on the loop's thread, when the task is "
              "cancelled from another thread") {
        run_test([]() -> Task<void> {
            Calls calls;
            TaskHandle<void> task = spawn(registered_sleeper(&calls));
            co_await yield_now();
            std::thread other([task] { CHECK(task.cancel("from elsewhere")); });
            other.join();
            Ended<void> out = co_await settled(task);
            CHECK(out.threw<CancelledError>());
            CHECK(calls.count == 1);
            CHECK(calls.thread == std::this_thread::get_id());  // the loop's thread, not other's
        }());
    }

    TEST_CASE("on_cancel runs once for several requests, before the awaited operation is "
              "interrupted") {
        run_test([]() -> Task<void> {
            Calls calls;
            TaskHandle<void> task = spawn(registered_sleeper(&calls));
            co_await yield_now();
            task.cancel("one");
            task.cancel("two");
            co_await settled(task);
            CHECK(calls.count == 1);
        }());
    }

    TEST_CASE("on_cancel with a request already pending runs the callback at once") {
        run_test([]() -> Task<void> {
            auto body = []() -> Task<int> {
                co_await non_cancellable(sleep_briefly());
                int count = 0;
                auto registration = this_task::on_cancel([&count] { ++count; });
                const int now = count;  // 1: ran inside on_cancel()
                co_return now;
            };
            TaskHandle<int> task = spawn(body());
            co_await yield_now();
            task.cancel();
            Ended<int> out = co_await settled(task);
            REQUIRE(out.ok());
            CHECK(*out.value == 1);
        }());
    }

    TEST_CASE("a destroyed on_cancel registration is never called") {
        run_test([]() -> Task<void> {
            Calls calls;
            TaskHandle<void> task = spawn(registers_and_returns(&calls));
            // A handshake, not a longer sleep: two sleeps race on real time (a schedule seed
            // made this test fail when both timers fired in one loop iteration).
            while (!calls.unregistered) {
                co_await sleep(1ms);
            }
            task.cancel();
            co_await settled(task);
            CHECK(calls.count == 0);
        }());
    }

    TEST_CASE("an exception from an on_cancel callback goes to the exception handler") {
        testing::TestRun run = run_test(
            []() -> Task<void> {
                auto body = []() -> Task<void> {
                    auto registration =
                        this_task::on_cancel([] { throw std::runtime_error("callback failed"); });
                    co_await sleep(10s);
                };
                TaskHandle<void> task = spawn(body());
                co_await yield_now();
                task.cancel();
                co_await settled(task);
            }(),
            {.expect_reports = true});
        REQUIRE(run.reports.size() == 1);
        CHECK(run.reports[0].message == "exception in a this_task::on_cancel callback");
    }

    TEST_CASE("on_cancel outside a task is an InvalidStateError") {
        CHECK_THROWS_AS((void)this_task::on_cancel([] {}), InvalidStateError);
    }
}
