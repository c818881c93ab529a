// The loop's exception handler (docs/semantics.md §6): a failure nobody retrieved is reported
// with the task's name; a retrieved failure and a cancelled task are not.
#include <uvtask/exception_handler.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <stdexcept>
#include <string>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;

namespace {

Task<void> sleeps_forever() { co_await sleep(10s); }

Task<void> fails(std::string what) {
    co_await yield_now();
    throw std::runtime_error(what);
}

}  // namespace

TEST_SUITE("exception_handler") {
    TEST_CASE("6 a detached task's failure that nobody retrieved is reported with its name") {
        auto result = run_test(
            []() -> Task<void> {
                bool done = false;
                {
                    TaskHandle<void> h = spawn(fails("nobody listens"), "forgotten");
                    h.add_done_callback([&done](const TaskHandle<void>&) { done = true; });
                }
                while (!done) {
                    co_await yield_now();
                }
            }(),
            RunTestOptions{.expect_reports = true});
        REQUIRE(result.reports.size() == 1);
        const ExceptionContext& report = result.reports[0];
        CHECK(report.message == "Task exception was never retrieved");
        CHECK(report.task_name == "forgotten");
        REQUIRE(report.exception != nullptr);
        CHECK_THROWS_WITH_AS(std::rethrow_exception(report.exception), "nobody listens",
                             std::runtime_error);
    }

    TEST_CASE("6 a failure reported when its last handle is dropped after the task ended") {
        auto result = run_test(
            []() -> Task<void> {
                TaskHandle<void> h = spawn(fails("dropped late"), "held-then-dropped");
                while (!h.done()) {
                    co_await yield_now();
                }
                h = TaskHandle<void>{};
                co_await yield_now();
            }(),
            RunTestOptions{.expect_reports = true});
        REQUIRE(result.reports.size() == 1);
        CHECK(result.reports[0].message == "Task exception was never retrieved");
        CHECK(result.reports[0].task_name == "held-then-dropped");
    }

    TEST_CASE("6 a retrieved failure, and a cancelled task, are not reported") {
        auto result = run_test([]() -> Task<void> {
            TaskHandle<void> a = spawn(fails("seen"), "retrieved");
            TaskHandle<void> b = spawn(sleeps_forever(), "cancelled-quietly");
            while (!a.done()) {
                co_await yield_now();
            }
            CHECK(a.exception() != nullptr);
            b.cancel();
            try {
                co_await shield(b);
            } catch (const CancelledError&) {
            }
        }());
        CHECK(result.reports.empty());
    }
}
