// Loop: embedding uvtask in an application's own libuv loop (issue 2), and the ready queue.
#include <uvtask/loop.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::assume_fifo_schedule;
using uvtask::testing::Counted;
using uvtask::testing::run_test;

namespace {

// A timer of the test itself, unreferenced so that it never keeps the loop alive: if the loop
// is still running after `timeout`, it records that and stops uv_run — the test fails instead
// of hanging.
struct Watchdog {
    uv_timer_t timer{};
    bool fired = false;
    Watchdog(uv_loop_t* loop, std::uint64_t timeout_ms) {
        uv_timer_init(loop, &timer);
        timer.data = this;
        uv_timer_start(
            &timer,
            [](uv_timer_t* t) {
                static_cast<Watchdog*>(t->data)->fired = true;
                uv_stop(t->loop);
            },
            timeout_ms, 0);
        uv_unref(reinterpret_cast<uv_handle_t*>(&timer));
    }
    void close() { uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr); }
};

// The application: its own timer, whose callback cancels one task and spawns another.
struct App {
    uv_timer_t timer{};
    int fired = 0;
    TaskHandle<void> victim;
    TaskHandle<int> late;
};

Task<int> worker(std::vector<std::string>* log) {
    co_await sleep(2ms);
    co_await yield_now();
    log->push_back("worker done");
    co_return 42;
}

Task<void> victim(std::vector<std::string>* log) {
    Counted local;
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        log->push_back("victim cancelled: " + e.message());
        throw;
    }
    log->push_back("victim woke up");
}

Task<int> late_task(std::vector<std::string>* log) {
    co_await yield_now();
    log->push_back("late ran");
    co_return 7;
}

void on_app_timer(uv_timer_t* timer) {
    auto* app = static_cast<App*>(timer->data);
    ++app->fired;
    if (app->fired == 1) {
        // From the application's own callback: cancel a task, spawn another.
        CHECK(app->victim.cancel("app timer"));
        auto* log = static_cast<std::vector<std::string>*>(timer->loop->data);
        app->late = spawn(late_task(log), "late");
    }
}

Task<void> sleeps_forever() { co_await sleep(std::chrono::hours(1)); }

Task<void> record(int id, std::vector<int>* order) {
    order->push_back(id);
    co_await yield_now();
    order->push_back(id + 10);
}

Task<int> makes_progress(int steps) {
    int total = 0;
    for (int i = 0; i < steps; ++i) {
        co_await yield_now();
        ++total;
    }
    co_await sleep(3ms);
    TaskHandle<int> child = spawn([](int v) -> Task<int> {
        co_await sleep(1ms);
        co_return v;
    }(total));
    const int from_child = co_await child;
    co_return from_child;
}

}  // namespace

TEST_SUITE("loop") {
    TEST_CASE("an adopted Loop runs and cancels tasks inside the application's own uv_run") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        std::vector<std::string> log;
        loop.data = &log;
        std::vector<ExceptionContext> reports;
        App app;
        uv_timer_init(&loop, &app.timer);
        app.timer.data = &app;
        Watchdog watchdog(&loop, 10'000);
        CHECK(Counted::alive == 0);
        {
            Loop adopted(&loop);
            CHECK(adopted.native() == &loop);
            adopted.set_exception_handler(
                [&reports](const ExceptionContext& c) { reports.push_back(c); });
            TaskHandle<int> work = spawn(worker(&log), "worker");
            app.victim = spawn(victim(&log), "victim");
            uv_timer_start(&app.timer, on_app_timer, 20, 0);

            // The application's own uv_run: it returns once the app timer has fired and uvtask
            // has nothing left to do (its handles do not keep the loop alive on their own).
            uv_run(&loop, UV_RUN_DEFAULT);
            CHECK_FALSE(watchdog.fired);
            CHECK(app.fired == 1);
            REQUIRE(work.done());
            CHECK(work.result() == 42);
            CHECK(app.victim.cancelled());
            REQUIRE(app.late.valid());
            REQUIRE(app.late.done());
            CHECK(app.late.result() == 7);
            CHECK(adopted.live_tasks() == 0);
            CHECK(Counted::alive == 0);
            CHECK(uv_loop_alive(&loop) == 0);
            // The worker's end and the app timer are not ordered; the victim's cancellation is
            // resumed before the task the same callback spawned afterwards.
            REQUIRE(log.size() == 3);
            const auto at = [&log](const std::string& entry) {
                return std::find(log.begin(), log.end(), entry) - log.begin();
            };
            CHECK(at("worker done") < 3);
            CHECK(at("victim cancelled: app timer") < at("late ran"));
            CHECK(at("late ran") < 3);

            // The application's timer is running when the Loop goes away.
            uv_timer_start(&app.timer, on_app_timer, 1, 0);
        }
        CHECK(reports.empty());
        // Untouched: still active, still ours, still fires.
        CHECK(uv_is_active(reinterpret_cast<uv_handle_t*>(&app.timer)) != 0);
        CHECK(uv_is_closing(reinterpret_cast<uv_handle_t*>(&app.timer)) == 0);
        CHECK(app.timer.data == &app);
        uv_run(&loop, UV_RUN_DEFAULT);  // also finishes the Loop's close requests
        CHECK_FALSE(watchdog.fired);
        CHECK(app.fired == 2);
        uv_close(reinterpret_cast<uv_handle_t*>(&app.timer), nullptr);
        watchdog.close();
        app.victim = {};
        app.late = {};
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("destroying an adopted Loop with tasks pending leaves the application's handles") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        std::vector<std::string> log;
        App app;
        uv_timer_init(&loop, &app.timer);
        app.timer.data = &app;
        std::vector<ExceptionContext> reports;
        CHECK(Counted::alive == 0);
        {
            Loop adopted(&loop);
            adopted.set_exception_handler(
                [&reports](const ExceptionContext& c) { reports.push_back(c); });
            app.victim = spawn(victim(&log), "still-sleeping");
            uv_run(&loop, UV_RUN_NOWAIT);  // it starts and sleeps
            REQUIRE(Counted::alive == 1);
            uv_timer_start(
                &app.timer, [](uv_timer_t* t) { ++static_cast<App*>(t->data)->fired; }, 1, 0);
        }
        CHECK(Counted::alive == 0);
        REQUIRE(reports.size() == 1);
        CHECK(reports[0].task_name == "still-sleeping");
        CHECK(log.empty());  // destroyed, not resumed
        CHECK(uv_is_active(reinterpret_cast<uv_handle_t*>(&app.timer)) != 0);
        Watchdog watchdog(&loop, 10'000);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK_FALSE(watchdog.fired);
        CHECK(app.fired == 1);
        uv_close(reinterpret_cast<uv_handle_t*>(&app.timer), nullptr);
        watchdog.close();
        app.victim = {};
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("an adopted Loop with no tasks does not keep the application's loop alive") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            CHECK(uv_loop_alive(&loop) == 0);
            CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
            // After a task has come and gone, the same.
            TaskHandle<int> h = spawn([]() -> Task<int> {
                co_await sleep(1ms);
                co_return 1;
            }());
            CHECK(uv_loop_alive(&loop) != 0);
            Watchdog watchdog(&loop, 10'000);
            CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
            CHECK_FALSE(watchdog.fired);
            CHECK(h.done());
            CHECK(uv_loop_alive(&loop) == 0);
            watchdog.close();
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("tasks still make progress when the application polls with UV_RUN_NOWAIT") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            TaskHandle<int> h = spawn(makes_progress(5));
            const std::uint64_t start = uv_hrtime();
            long spins = 0;
            while (!h.done() && uv_hrtime() - start < 10'000'000'000ULL) {
                uv_run(&loop, UV_RUN_NOWAIT);
                ++spins;
            }
            REQUIRE(h.done());
            CHECK(h.result() == 5);
            CHECK(spins > 1);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("a task yielding in a loop runs at most one batch between two I/O polls") {
        // Each step of the task busy-waits longer than a batch's budget (~50 µs), so a batch is
        // exactly one step. A prepare handle runs right before every poll: between two of them
        // the task must have advanced by at most one step (one batch), or I/O waits longer.
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        struct Polls {
            uv_prepare_t prepare{};
            int steps = 0;
            std::vector<int> steps_at_poll;
        } polls;
        uv_prepare_init(&loop, &polls.prepare);
        polls.prepare.data = &polls;
        uv_prepare_start(&polls.prepare, [](uv_prepare_t* handle) {
            auto* p = static_cast<Polls*>(handle->data);
            p->steps_at_poll.push_back(p->steps);
        });
        uv_unref(reinterpret_cast<uv_handle_t*>(&polls.prepare));
        {
            Loop adopted(&loop);
            TaskHandle<void> spinner = spawn([](int* steps) -> Task<void> {
                for (int i = 0; i < 20; ++i) {
                    const auto end = std::chrono::steady_clock::now() + 120us;
                    while (std::chrono::steady_clock::now() < end) {
                    }
                    ++*steps;
                    co_await yield_now();
                }
            }(&polls.steps));
            uv_run(&loop, UV_RUN_DEFAULT);
            REQUIRE(spinner.done());
        }
        CHECK(polls.steps == 20);
        CHECK(polls.steps_at_poll.size() >= 20);  // one poll per step
        int most_between_polls = 0;
        for (std::size_t i = 1; i < polls.steps_at_poll.size(); ++i) {
            most_between_polls =
                std::max(most_between_polls, polls.steps_at_poll[i] - polls.steps_at_poll[i - 1]);
        }
        CHECK(most_between_polls == 1);
        uv_close(reinterpret_cast<uv_handle_t*>(&polls.prepare), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("the ready queue runs tasks in FIFO order, a yield going behind every ready task") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned tasks
            std::vector<int> order;
            std::vector<TaskHandle<void>> tasks;
            for (int id = 0; id < 5; ++id) {
                tasks.push_back(spawn(record(id, &order)));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            const std::vector<int> expected{0, 1, 2, 3, 4, 10, 11, 12, 13, 14};
            CHECK(order == expected);
        }());
    }

    TEST_CASE("tasks spawned from outside any task run in spawn order") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        std::vector<int> order;
        {
            Loop adopted(&loop);
            std::vector<TaskHandle<void>> tasks;
            for (int id = 0; id < 4; ++id) {
                tasks.push_back(spawn(record(id, &order)));
            }
            CHECK(order.empty());  // nothing runs inside spawn()
            uv_run(&loop, UV_RUN_DEFAULT);
            for (auto& t : tasks) {
                CHECK(t.done());
            }
        }
        const std::vector<int> expected{0, 1, 2, 3, 10, 11, 12, 13};
        CHECK(order == expected);
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("destroying a Loop on another thread reports it and terminates the process") {
        int err[2];
        REQUIRE(pipe(err) == 0);
        const pid_t child = fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            std::signal(SIGABRT, SIG_DFL);  // not doctest's crash handler: die of it
            dup2(err[1], STDERR_FILENO);
            auto loop = std::make_unique<Loop>();
            (void)spawn(sleeps_forever());
            std::thread([&loop] { loop.reset(); }).join();
            _exit(0);  // not reached when the destructor terminates
        }
        close(err[1]);
        std::string output;
        char buffer[512];
        for (ssize_t n; (n = read(err[0], buffer, sizeof buffer)) > 0;) {
            output.append(buffer, static_cast<std::size_t>(n));
        }
        close(err[0]);
        int status = 0;
        REQUIRE(waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status));
        CHECK(WTERMSIG(status) == SIGABRT);
        CHECK_MESSAGE(output.find("destroyed on a thread other than its own") != std::string::npos,
                      output);
    }

    TEST_CASE("Loop() owns its uv_loop_t and Loop::current() is the thread's loop") {
        CHECK(Loop::current() == nullptr);
        {
            Loop owned;
            CHECK(Loop::current() == &owned);
            REQUIRE(owned.native() != nullptr);
            TaskHandle<int> h = spawn([]() -> Task<int> {
                co_await sleep(1ms);
                co_return 3;
            }());
            uv_run(owned.native(), UV_RUN_DEFAULT);
            REQUIRE(h.done());
            CHECK(h.result() == 3);
        }
        CHECK(Loop::current() == nullptr);
    }
}
