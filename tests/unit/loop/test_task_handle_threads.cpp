// TaskHandle::cancel() from another thread (docs/semantics.md §3.10): the request flag is set at
// once and the loop is woken. (tests/unit/loop/test_cross_thread.cpp repeats it under stress.)
#include <uvtask/task_handle.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

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

TEST_SUITE("task_handle") {
    namespace {
    struct RemoteSleepRecord {
        bool asleep = false;
        std::optional<CancelledError> error;
    };
    Task<void> sleep_until_cancelled(RemoteSleepRecord* record) {
        record->asleep = true;
        record->error = co_await cancel_of(sleep_forever());
    }
    struct RemoteSpinRecord {
        std::atomic<bool> spinning{false};
        bool saw_request = false;
        std::optional<CancelledError> error;
        std::stop_token token;
    };
    Task<void> checkpoint_loop_until_cancelled(RemoteSpinRecord* record) {
        // Bounded, so a broken runtime fails instead of spinning forever (the loop cannot run its
        // watchdog while this task holds the thread: with a 1 h slice checkpoint never yields).
        const auto give_up = Clock::now() + 60s;
        record->spinning.store(true);
        try {
            while (Clock::now() < give_up) {
                co_await checkpoint();
            }
        } catch (const CancelledError& e) {
            record->error = e;
        }
    }
    Task<void> spin_on_flag_until_cancelled(RemoteSpinRecord* record) {
        record->token = this_task::stop_token();
        const auto give_up = Clock::now() + 60s;
        record->spinning.store(true);
        // cancel() sets the flag, then requests the stop token: wait for both, never suspending.
        while (!(this_task::cancel_requested() && record->token.stop_requested()) &&
               Clock::now() < give_up) {
        }
        record->saw_request = this_task::cancel_requested() && record->token.stop_requested();
        record->error = co_await cancel_of(yield_once());
    }
    }  // namespace

    TEST_CASE("3.10 cancel() from another thread wakes a sleeping task and a checkpoint loop") {
        run_test([]() -> Task<void> {
            // A sleeping task: the loop is woken (uv_async_t) and the timer stopped.
            RemoteSleepRecord sleeping;
            auto sleeper = spawn(sleep_until_cancelled(&sleeping));
            co_await yield_now();
            REQUIRE(sleeping.asleep);
            bool sleeper_cancel_returned = false;
            std::thread remote([sleeper, &sleeper_cancel_returned] {
                sleeper_cancel_returned = sleeper.cancel("from afar");
            });
            co_await sleeper;
            remote.join();
            CHECK(sleeper_cancel_returned);
            REQUIRE(sleeping.error.has_value());
            CHECK(sleeping.error->message() == "from afar");

            // A checkpoint loop that never yields (1 h slice): it sees the flag itself.
            Loop::current()->set_time_slice(1h);
            RemoteSpinRecord spinning;
            auto spinner = spawn(checkpoint_loop_until_cancelled(&spinning));
            std::thread canceller([spinner, &spinning] {
                while (!spinning.spinning.load()) {
                    std::this_thread::yield();
                }
                spinner.cancel("stop spinning", CancelKind::signal);
            });
            co_await spinner;
            canceller.join();
            REQUIRE(spinning.error.has_value());
            CHECK(spinning.error->message() == "stop spinning");
            CHECK(spinning.error->kind() == CancelKind::signal);
            CHECK(spinner.cancelling() == 1);
        }());
    }

    TEST_CASE("3.10 cancel() from another thread sets the request flag at once, without the loop") {
        run_test([]() -> Task<void> {
            RemoteSpinRecord record;
            auto spinner = spawn(spin_on_flag_until_cancelled(&record));
            std::thread canceller([spinner, &record] {
                while (!record.spinning.load()) {
                    std::this_thread::yield();
                }
                spinner.cancel("flag");
            });
            co_await spinner;
            canceller.join();
            CHECK(record.saw_request);
            REQUIRE(record.error.has_value());
            CHECK(record.error->message() == "flag");
        }());
    }
}
