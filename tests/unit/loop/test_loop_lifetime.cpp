// Loop construction and destruction (docs/semantics.md §5, §6): one Loop per thread, and a Loop
// destroyed with tasks pending reports each of them and frees its frame.
#include <uvtask/loop.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <algorithm>
#include <string>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Counted;
using uvtask::testing::Reports;
using uvtask::testing::run_until;

namespace {

Task<int> returns(int value) { co_return value; }

Task<void> sleeps_holding(Counted) {
    Counted local;
    co_await sleep(10s);
}

}  // namespace

TEST_SUITE("loop") {
    TEST_CASE("6 a second Loop on the same thread is an InvalidStateError") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        uv_loop_t other;
        REQUIRE(uv_loop_init(&other) == 0);
        {
            Loop first(&loop);
            CHECK_THROWS_AS(Loop{}, InvalidStateError);
            CHECK_THROWS_AS(Loop{&other}, InvalidStateError);
            CHECK(Loop::current() == &first);  // the failed attempts left the first one current
            TaskHandle<int> h = spawn(returns(8));
            run_until(&loop, [&h] { return h.done(); });
            CHECK(h.result() == 8);
        }
        CHECK(Loop::current() == nullptr);
        CHECK_THROWS_AS(Loop{nullptr}, InvalidStateError);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        CHECK(uv_loop_close(&other) == 0);
    }

    TEST_CASE("6 a task destroyed while pending is reported with its name and its frame freed") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        Reports reports;
        CHECK(Counted::alive == 0);
        int callback_calls = 0;
        TaskHandle<void> kept;
        {
            Loop adopted(&loop);
            adopted.set_exception_handler(reports.handler());
            kept = spawn(sleeps_holding(Counted{}), "sleeper");
            (void)spawn(sleeps_holding(Counted{}), "also-sleeping");
            // Each started task holds its argument and its local.
            run_until(&loop, [] { return Counted::alive == 4; });
            REQUIRE(Counted::alive == 4);
            (void)spawn(sleeps_holding(Counted{}), "not-started");
            CHECK(Counted::alive == 5);
            REQUIRE_FALSE(kept.done());
            kept.add_done_callback(
                [&callback_calls](const TaskHandle<void>&) { ++callback_calls; });
        }
        CHECK(callback_calls == 0);  // a task destroyed while pending drops its callbacks
        CHECK(Counted::alive == 0);
        REQUIRE(reports.seen.size() == 3);
        std::vector<std::string> names;
        for (const auto& report : reports.seen) {
            CHECK(report.message == "Task was destroyed but it is pending!");
            names.push_back(report.task_name);
        }
        CHECK(std::find(names.begin(), names.end(), "sleeper") != names.end());
        CHECK(std::find(names.begin(), names.end(), "also-sleeping") != names.end());
        CHECK(std::find(names.begin(), names.end(), "not-started") != names.end());
        // A handle kept past its loop says the task ended cancelled (kind shutdown).
        CHECK(kept.done());
        CHECK(kept.cancelled());
        try {
            kept.result();
            FAIL("result() of a destroyed task returned");
        } catch (const CancelledError& e) {
            CHECK(e.kind() == CancelKind::shutdown);
        }
        kept = TaskHandle<void>{};
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }
}
