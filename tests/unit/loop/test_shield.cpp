// shield() (docs/semantics.md §3.6): the waiter gets CancelledError, the shielded task runs on.
#include <uvtask/shield.hpp>

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

TEST_SUITE("shield") {
    namespace {
    Task<int> wait_for_release(const bool* release) {
        co_await yield_until(release);
        co_return 42;
    }
    Task<void> await_shielded(TaskHandle<int> target, std::optional<CancelledError>* error) {
        try {
            [[maybe_unused]] const int value = co_await shield(target);
        } catch (const CancelledError& e) {
            *error = e;
        }
    }
    Task<void> critical_section(bool* release, bool* finished) {
        co_await yield_until(release);
        *finished = true;
    }
    Task<void> await_shielded_task(bool* release, bool* finished,
                                   std::optional<CancelledError>* error) {
        try {
            co_await shield(critical_section(release, finished));
        } catch (const CancelledError& e) {
            *error = e;
        }
    }
    }  // namespace

    TEST_CASE(
        "3.6 shield(handle): the waiter gets CancelledError, the shielded task runs on and its "
        "result stays in the handle") {
        run_test([]() -> Task<void> {
            bool release = false;
            std::optional<CancelledError> error;
            auto target = spawn(wait_for_release(&release));
            auto waiter = spawn(await_shielded(target, &error));
            co_await yield_now();  // the waiter waits in shield()
            CHECK(waiter.cancel("waiter only"));
            co_await waiter;  // the waiter stops at once: the target has not finished
            REQUIRE(error.has_value());
            CHECK(error->message() == "waiter only");
            CHECK_FALSE(target.done());
            CHECK(target.cancelling() == 0);
            release = true;
            const int value = co_await target;
            CHECK(value == 42);
            CHECK(target.result() == 42);
            CHECK_FALSE(target.cancelled());
        }());
    }

    TEST_CASE(
        "3.6 shield(task) spawns the task and lets it finish after the waiter was cancelled") {
        run_test([]() -> Task<void> {
            bool release = false;
            bool finished = false;
            std::optional<CancelledError> error;
            auto waiter = spawn(await_shielded_task(&release, &finished, &error));
            co_await yield_now();  // the waiter spawns the critical task and waits in shield()
            waiter.cancel("go away");
            co_await waiter;
            REQUIRE(error.has_value());
            CHECK(error->message() == "go away");
            CHECK_FALSE(finished);
            release = true;
            co_await yield_until(&finished);
            CHECK(finished);
        }());
    }
}
