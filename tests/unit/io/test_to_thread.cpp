// to_thread(): blocking work on libuv's thread pool, stop tokens, uv_cancel before start.
#include <uvtask/to_thread.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::PoolBlocker;
using uvtask::testing::run_test;

namespace {

struct Progress {
    std::atomic<bool> started{false};
    std::atomic<bool> saw_stop{false};
    std::atomic<bool> ran{false};
};

/// Works until stop is requested, then returns "stopped".
Task<std::string> stoppable_job(Progress* progress) {
    auto job = [progress](std::stop_token stop) {
        progress->started = true;
        while (!stop.stop_requested()) {
            std::this_thread::sleep_for(1ms);
        }
        progress->saw_stop = true;
        return std::string("stopped");
    };
    std::string result = co_await to_thread(std::move(job));
    co_return result;
}

/// Honours the stop request by throwing CancelledError.
Task<int> job_that_throws_cancel(Progress* progress) {
    auto job = [progress](std::stop_token stop) -> int {
        progress->started = true;
        while (!stop.stop_requested()) {
            std::this_thread::sleep_for(1ms);
        }
        progress->saw_stop = true;
        throw CancelledError("stopped by the job");
    };
    const int value = co_await to_thread(std::move(job));
    co_return value;
}

/// Counts live instances across threads (made on a pool thread, destroyed on the loop's).
struct SharedCounted {
    static inline std::atomic<int> alive{0};
    SharedCounted() noexcept { ++alive; }
    SharedCounted(const SharedCounted&) noexcept { ++alive; }
    SharedCounted(SharedCounted&&) noexcept { ++alive; }
    SharedCounted& operator=(const SharedCounted&) = default;
    ~SharedCounted() { --alive; }
};

Task<int> plain_job(Progress* progress) {
    auto job = [progress] {
        progress->ran = true;
        return 7;
    };
    const int value = co_await to_thread(std::move(job));
    co_return value;
}

/// A job that ignores its stop token and blocks until the test opens the gate (or 10 s pass,
/// so that a broken runtime fails the test instead of hanging it).
struct StuckGate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    std::atomic<bool> started{false};
    void release() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            open = true;
        }
        cv.notify_all();
    }
    [[nodiscard]] bool opened() {
        std::lock_guard<std::mutex> lock(mutex);
        return open;
    }
};

Task<void> stuck_job(std::shared_ptr<StuckGate> gate) {
    auto job = [gate] {
        gate->started = true;
        std::unique_lock<std::mutex> lock(gate->mutex);
        gate->cv.wait_for(lock, 10s, [&] { return gate->open; });
    };
    co_await to_thread(std::move(job));
}

/// main for run(): leaves the task "stuck-job" blocked in `stuck_job`, returns once it runs.
Task<void> leave_a_stuck_job(std::shared_ptr<StuckGate> gate) {
    (void)spawn(stuck_job(gate), "stuck-job");
    auto started = [&] { return gate->started.load(); };
    co_await uvtask::testing::until(started);
}

/// The reports about a to_thread job blocking teardown.
std::vector<ExceptionContext> blocking_reports(const std::vector<ExceptionContext>& reports) {
    std::vector<ExceptionContext> out;
    for (const auto& report : reports) {
        if (report.message.find("to_thread job") != std::string::npos) {
            out.push_back(report);
        }
    }
    return out;
}

}  // namespace

TEST_SUITE("to_thread") {
    TEST_CASE("to_thread runs the function on another thread and returns its result") {
        run_test([]() -> Task<void> {
            const auto loop_thread = std::this_thread::get_id();
            auto job = [loop_thread] { return std::this_thread::get_id() != loop_thread; };
            const bool elsewhere = co_await to_thread(std::move(job));
            CHECK(elsewhere);
            auto nothing = [] {};
            co_await to_thread(std::move(nothing));
            auto move_only = [] { return std::make_unique<int>(3); };
            auto value = co_await to_thread(std::move(move_only));
            CHECK(*value == 3);
        }());
    }

    TEST_CASE("an exception thrown by the function is rethrown in the task") {
        run_test([]() -> Task<void> {
            auto job = []() -> int { throw std::runtime_error("from the pool"); };
            CHECK_THROWS_WITH_AS((void)co_await to_thread(std::move(job)), "from the pool",
                                 std::runtime_error);
        }());
    }

    TEST_CASE("a cancelled to_thread job observes its stop token; the cancel follows the result") {
        run_test([]() -> Task<void> {
            Progress progress;
            auto task = spawn([](Progress* p) -> Task<std::string> {
                std::string result = co_await stoppable_job(p);
                // The job ran to its end: its result is delivered (atomic completion) and the
                // cancel is thrown at the next suspension point.
                CHECK(this_task::cancel_requested());
                try {
                    co_await yield_now();
                } catch (const CancelledError&) {
                    co_return result + ", then cancelled";
                }
                co_return result;
            }(&progress));
            auto started = [&] { return progress.started.load(); };
            co_await uvtask::testing::until(started);
            task.cancel();
            const std::string outcome = co_await task;
            CHECK(progress.saw_stop);
            CHECK(outcome == "stopped, then cancelled");
        }());
    }

    TEST_CASE("a job that throws CancelledError on stop delivers the cancel once") {
        run_test([]() -> Task<void> {
            Progress progress;
            auto task = spawn([](Progress* p) -> Task<std::string> {
                std::string message = "not cancelled";
                try {
                    (void)co_await job_that_throws_cancel(p);
                } catch (const CancelledError& error) {
                    message = error.message();
                }
                // The request was consumed: the next suspension point runs normally.
                CHECK_FALSE(this_task::cancel_requested());
                co_await yield_now();
                co_return message;
            }(&progress));
            auto started = [&] { return progress.started.load(); };
            co_await uvtask::testing::until(started);
            task.cancel("stop now");
            const std::string message = co_await task;
            CHECK(progress.saw_stop);
            CHECK(message == "stop now");  // the task's own CancelledError, with its message
        }());
    }

    TEST_CASE("a job cancelled before a pool thread ran it never runs") {
        run_test([]() -> Task<void> {
            auto pool = co_await PoolBlocker::occupy();
            Progress progress;
            auto task = spawn(plain_job(&progress));
            co_await sleep(5ms);
            CHECK_FALSE(task.done());
            task.cancel();
            CHECK_THROWS_AS(co_await task, CancelledError);  // uv_cancel'led
            co_await pool->release();
            CHECK_FALSE(progress.ran);
        }());
    }

    TEST_CASE("a job that finished before the cancel reached the task delivers its result") {
        run_test([]() -> Task<void> {
            Progress progress;
            bool started = false;
            auto task = spawn([](Progress* p, bool* go) -> Task<bool> {
                *go = true;
                const int value = co_await plain_job(p);
                co_return value == 7 && this_task::cancel_requested();
            }(&progress, &started));
            CancelAfterCompletion canceller(
                task, [&] { return started && uvtask::testing::some_task_ready(); });
            const bool finished_then_cancelled = co_await task;
            CHECK(canceller.fired());
            CHECK(finished_then_cancelled);
        }());
    }

    TEST_CASE(
        "a job that honours its stop at once delivers its value exactly once, before or after "
        "libuv's after-work callback") {
        // After a cancel the loop takes up a job that has returned without waiting for libuv's
        // after-work callback (which may then run after the awaiting task is gone). Either way
        // the value arrives intact, once, and everything is freed once (ASan checks the rest).
        run_test([]() -> Task<void> {
            for (int round = 0; round < 200; ++round) {
                Progress progress;
                auto task = spawn([](Progress* p) -> Task<std::string> {
                    auto job = [p](std::stop_token stop) {
                        SharedCounted held;
                        p->started = true;
                        while (!stop.stop_requested()) {
                        }
                        return std::make_pair(std::string(100, 'v'), held);
                    };
                    auto result = co_await to_thread(std::move(job));
                    co_return result.first;
                }(&progress));
                auto started = [&] { return progress.started.load(); };
                co_await uvtask::testing::until(started);
                task.cancel();
                const std::string text = co_await task;  // the job's value, not CancelledError
                REQUIRE(text == std::string(100, 'v'));
            }
        }());
        CHECK(SharedCounted::alive == 0);  // every result destroyed once the loop has closed
    }

    TEST_CASE("a pending cancel stops to_thread before the function is queued") {
        run_test([]() -> Task<void> {
            Progress progress;
            TaskHandle<int> self;
            auto task = spawn([](TaskHandle<int>* me, Progress* p) -> Task<int> {
                me->cancel();
                const int value = co_await plain_job(p);
                co_return value;
            }(&self, &progress));
            self = task;
            CHECK_THROWS_AS(co_await task, CancelledError);
            CHECK_FALSE(progress.ran);
        }());
    }

    TEST_CASE(
        "a to_thread job that blocks run()'s teardown is reported with its task's name and "
        "age, and the loop then closes clean") {
        auto gate = std::make_shared<StuckGate>();
        std::vector<ExceptionContext> reports;
        RunOptions options;
        options.handle_sigint = false;
        options.shutdown_grace = 20ms;
        options.exception_handler = [&](const ExceptionContext& context) {
            reports.push_back(context);
            if (context.message.find("to_thread job") != std::string::npos) {
                gate->release();  // handshake: the job returns only once it was reported
            }
        };
        uvtask::run(leave_a_stuck_job(gate), options);
        const auto blocking = blocking_reports(reports);
        REQUIRE(blocking.size() == 1);
        CHECK(blocking[0].task_name == "stuck-job");
        CHECK(blocking[0].message.find("'stuck-job'") != std::string::npos);
        CHECK(blocking[0].message.find("has run for") != std::string::npos);
        CHECK(blocking[0].message.find("teardown") != std::string::npos);
        CHECK(gate->opened());  // released by the report, not by the job's own 10 s limit
        for (const auto& report : reports) {
            CHECK(report.message.find("uv_loop_close") == std::string::npos);
        }
    }

    TEST_CASE("a to_thread job blocking teardown is reported again every second until it returns") {
        auto gate = std::make_shared<StuckGate>();
        std::vector<ExceptionContext> reports;
        RunOptions options;
        options.handle_sigint = false;
        options.shutdown_grace = 0ms;
        options.exception_handler = [&](const ExceptionContext& context) {
            reports.push_back(context);
            if (blocking_reports(reports).size() == 2) {
                gate->release();
            }
        };
        uvtask::run(leave_a_stuck_job(gate), options);
        const auto blocking = blocking_reports(reports);
        REQUIRE(blocking.size() == 2);
        CHECK(blocking[1].task_name == "stuck-job");
        CHECK(blocking[0].message != blocking[1].message);  // the age has grown
        CHECK(gate->opened());
        for (const auto& report : reports) {
            CHECK(report.message.find("uv_loop_close") == std::string::npos);
        }
    }
}
