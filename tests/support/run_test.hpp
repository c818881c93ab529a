// Test support: run one test coroutine on a fresh libuv loop and check the loop closes clean.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

/// UVTASK_TEST_VIRTUAL_TIME=1 in the environment.
inline bool virtual_time_by_default() {
    const char* value = std::getenv("UVTASK_TEST_VIRTUAL_TIME");
    return value != nullptr && std::string(value) == "1";
}
// ---- the schedule seed (docs/testing.md). `UVTASK_SCHEDULE_SEED=<n>` runs every run_test loop
// with `Loop::set_schedule_seed(n)`; `random` picks one from the clock (once per process).
// A failing check inside run_test names the seed (doctest INFO), so that
// `UVTASK_SCHEDULE_SEED=<n> ./build/tests/test_x` replays the run.
[[nodiscard]] inline std::uint64_t schedule_seed_from_env() {
    static const std::uint64_t seed = []() -> std::uint64_t {
        const char* text = std::getenv("UVTASK_SCHEDULE_SEED");
        if (text == nullptr || *text == '\0') {
            return 0;
        }
        if (std::string_view(text) == "random") {
            const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
            return static_cast<std::uint64_t>(now) | 1;  // never 0 (FIFO)
        }
        return std::strtoull(text, nullptr, 10);
    }();
    return seed;
}
[[nodiscard]] inline std::string schedule_note(std::uint64_t seed) {
    return seed != 0 ? schedule_seed_note(seed) : std::string("schedule: FIFO");
}
/// Called first by a test task that asserts the FIFO order of the ready queue — the order in
/// which tasks spawned or woken together run, which a schedule seed relaxes (Loop::
/// set_schedule_seed): its loop runs FIFO whatever UVTASK_SCHEDULE_SEED says.
inline void assume_fifo_schedule() { Loop::current()->set_schedule_seed(0); }

struct RunTestOptions {
    /// The test task is cancelled (message "watchdog") and the test fails after this long.
    std::chrono::milliseconds watchdog{10'000};
    /// Reports through the loop's exception handler are expected (returned, not failed on).
    bool expect_reports = false;
    /// The loop runs on virtual time (`Loop::set_virtual_time`); the watchdog stays real time.
    /// On by default when the environment has UVTASK_TEST_VIRTUAL_TIME=1 (tests/run runs the
    /// timer-driven suites once more so).
    bool virtual_time = virtual_time_by_default();
    /// With `virtual_time`: its I/O idle threshold.
    std::chrono::nanoseconds virtual_time_io_idle{std::chrono::milliseconds(10)};
};

struct TestRun {
    std::vector<ExceptionContext> reports;  // what the loop's exception handler received
};

/// Runs `body` as the task "test" on a fresh `uv_loop_t` adopted by a `Loop`, until it ends;
/// rethrows its failure; cancels and awaits any task it left behind; destroys the Loop and
/// CHECKs that `uv_loop_close` returns 0 (no leaked handle). Fails on a watchdog expiry, on a
/// deadlock (the loop runs dry before the task ends) and, unless `expect_reports`, on any report.
template <class T>
TestRun run_test(Task<T> body, RunTestOptions options = {}) {
    TestRun run;
    const std::uint64_t seed = schedule_seed_from_env();
    const std::string seed_note = schedule_note(seed);
    INFO(seed_note);
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    bool watchdog_fired = false;
    bool deadlock = false;
    std::exception_ptr failure;
    {
        Loop adopted(&loop);
        adopted.set_schedule_seed(seed);
        adopted.set_exception_handler(
            [&run](const ExceptionContext& context) { run.reports.push_back(context); });
        if (options.virtual_time) {
            adopted.set_virtual_time(true, options.virtual_time_io_idle);
        }
        TaskHandle<T> handle = spawn(std::move(body), "test");
        uv_timer_t watchdog;
        uv_timer_init(&loop, &watchdog);
        struct WatchdogData {
            TaskHandle<T>* handle;
            bool* fired;
        } data{&handle, &watchdog_fired};
        watchdog.data = &data;
        uv_timer_start(
            &watchdog,
            [](uv_timer_t* timer) {
                auto* d = static_cast<WatchdogData*>(timer->data);
                *d->fired = true;
                d->handle->cancel("watchdog");
                uv_stop(timer->loop);
            },
            static_cast<std::uint64_t>(options.watchdog.count()), 0);
        uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));
        handle.add_done_callback([&loop](const TaskHandle<T>&) { uv_stop(&loop); });
        while (!handle.done() && !watchdog_fired) {
            // Under virtual time a referenced watchdog would count as I/O under way (and hold
            // every jump for the idle threshold): it stays unreferenced.
            if (!options.virtual_time) {
                uv_ref(reinterpret_cast<uv_handle_t*>(&watchdog));
            }
            const int alive = uv_run(&loop, UV_RUN_DEFAULT);
            uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));
            (void)alive;
            if (!handle.done() && !watchdog_fired && uv_loop_alive(&loop) == 0) {
                deadlock = true;
                break;
            }
        }
        // Whatever the test left running is cancelled and awaited (bounded by a second watchdog).
        uv_timer_stop(&watchdog);
        bool cleanup_timed_out = false;
        data.fired = &cleanup_timed_out;
        uv_timer_start(
            &watchdog, [](uv_timer_t* timer) {
                *static_cast<WatchdogData*>(timer->data)->fired = true;
                uv_stop(timer->loop);
            },
            2000, 0);
        while (adopted.live_tasks() > 0 && !cleanup_timed_out) {
            adopted.cancel_all("test cleanup", CancelKind::shutdown);
            uv_run(&loop, UV_RUN_ONCE);
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
        CHECK_MESSAGE(!cleanup_timed_out, "tasks left by the test did not end when cancelled");
        if (handle.done()) {
            try {
                handle.result();
            } catch (...) {
                failure = std::current_exception();
            }
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // let the Loop's close requests finish
    CHECK_MESSAGE(uv_loop_close(&loop) == 0, "a libuv handle leaked");
    CHECK_MESSAGE(!watchdog_fired, "the test task did not finish before its watchdog");
    CHECK_MESSAGE(!deadlock, "the test task waits on nothing that can complete (deadlock)");
    if (!options.expect_reports) {
        for (const auto& report : run.reports) {
            FAIL_CHECK("unexpected report: " << report.message << " (task '" << report.task_name
                                             << "')");
        }
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
    return run;
}

/// Counts live instances, to check that frames and captured objects are destroyed (atomic: a
/// Counted may be made on one thread and destroyed on another).
struct Counted {
    static inline std::atomic<int> alive{0};
    Counted() noexcept { ++alive; }
    Counted(const Counted&) noexcept { ++alive; }
    Counted(Counted&&) noexcept { ++alive; }
    Counted& operator=(const Counted&) = default;
    ~Counted() { --alive; }
};

}  // namespace uvtask::testing
