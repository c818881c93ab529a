// The one rule of what a deadline bounds (with_timeout, move_on_after, wait_for, Deadline::run
// and move_on): a Task runs inline in the awaiting task, a TaskHandle is joined (its task
// cancelled and waited for on expiry), any awaitable is awaited inline, atomically.
#include <uvtask/timeout.hpp>
#include <uvtask/wait_for.hpp>

#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>

#include <uvtask/uvtask.hpp>

#include "ended.hpp"
#include "run_test.hpp"
#include "tcp_test_support.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::connected_pair;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;

namespace {

Task<std::string> name_of_running_task() {
    co_await yield_now();
    co_return this_task::name();
}

Task<int> value_after(std::chrono::milliseconds delay, int value) {
    co_await sleep(delay);
    co_return value;
}

/// The three functions on a Task, from a task named "outer": each returns the name of the task
/// the work ran in.
Task<void> bound_tasks_run_inline() {
    std::string in_wait_for = co_await wait_for(name_of_running_task(), 1s);
    std::string in_with_timeout = co_await with_timeout(1s, name_of_running_task());
    std::optional<std::string> in_move_on = co_await move_on_after(1s, name_of_running_task());
    CHECK(in_wait_for == "outer");
    CHECK(in_with_timeout == "outer");
    CHECK(in_move_on == std::optional<std::string>("outer"));
}

}  // namespace

TEST_SUITE("timeout") {
    TEST_CASE("a Task given to wait_for, with_timeout or move_on_after runs inline in the "
              "awaiting task (asyncio 3.12's wait_for)") {
        run_test([]() -> Task<void> {
            TaskHandle<void> outer = spawn(bound_tasks_run_inline(), "outer");
            co_await outer;
        }());
    }

    TEST_CASE("with_timeout and move_on_after bound any awaitable: a sleep, a queue pop, a "
              "stream read") {
        run_test([]() -> Task<void> {
            Ended<void> slept = co_await outcome_of(with_timeout(5ms, sleep(10s)));
            CHECK(slept.threw<TimeoutError>());

            Queue<int> queue;
            std::optional<int> nothing = co_await move_on_after(5ms, queue.pop());
            CHECK_FALSE(nothing.has_value());
            CHECK(queue.try_push(7));
            std::optional<int> seven = co_await move_on_after(1s, queue.pop());
            CHECK(seven == std::optional<int>(7));

            auto pair = co_await connected_pair();
            std::array<char, 16> buffer{};
            std::optional<std::size_t> none = co_await move_on_after(5ms,
                                                                      pair.first.read_some(buffer));
            CHECK_FALSE(none.has_value());
            co_await pair.second.write_all("hi");
            std::optional<std::size_t> two = co_await move_on_after(1s,
                                                                    pair.first.read_some(buffer));
            CHECK(two == std::optional<std::size_t>(2));
        }());
    }

    TEST_CASE("a TaskHandle given to with_timeout or move_on_after is joined; on expiry its task "
              "is cancelled and waited for") {
        run_test([]() -> Task<void> {
            TaskHandle<int> quick = spawn(value_after(1ms, 5));
            const int five = co_await with_timeout(1s, quick);
            CHECK(five == 5);

            TaskHandle<int> slow = spawn(value_after(10s, 6));
            std::optional<int> got = co_await move_on_after(5ms, slow);
            CHECK_FALSE(got.has_value());
            CHECK(slow.done());  // waited for: nothing left running
            CHECK(slow.cancelled());

            TaskHandle<int> slower = spawn(value_after(10s, 7));
            Ended<int> timed_out = co_await outcome_of(with_timeout(5ms, slower));
            CHECK(timed_out.threw<TimeoutError>());
            CHECK(slower.done());
        }());
    }

    TEST_CASE("Deadline::run and move_on accept a handle and an awaitable too") {
        run_test([]() -> Task<void> {
            Deadline deadline = Deadline::after(5ms);
            bool ended_in_time = co_await deadline.move_on(sleep(10s));
            CHECK_FALSE(ended_in_time);
            Deadline later = Deadline::after(1s);
            TaskHandle<int> quick = spawn(value_after(1ms, 8));
            const int eight = co_await later.run(quick);
            CHECK(eight == 8);
        }());
    }
}
