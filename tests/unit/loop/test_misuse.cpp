// docs/semantics.md §6: every misuse is a named exception or a report through the loop's exception handler
// with the task's name — never a crash, a hang or a silent leak.
#include <uvtask/uvtask.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <coroutine>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Counted;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;

namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

Task<int> returns(int value) { co_return value; }

Task<void> sleeps_forever() { co_await sleep(10s); }

Task<void> sleeps_holding(Counted) {
    Counted local;
    co_await sleep(10s);
}

Task<void> fails(std::string what) {
    co_await yield_now();
    throw std::runtime_error(what);
}

// A coroutine type that is not a uvtask Task: eager, never suspends at start or end. Used to
// await uvtask awaitables outside any uvtask task.
struct Foreign {
    struct promise_type {
        Foreign get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };
};

// Awaits `make()`'s awaitable from a Foreign coroutine and stores what it threw.
template <class Make>
Foreign await_outside(Make make, std::string* error, bool* completed) {
    try {
        co_await make();
        *completed = true;
    } catch (const InvalidStateError& e) {
        *error = e.what();
    }
}

template <class Make>
std::string outside_task_error(Make make) {
    std::string error;
    bool completed = false;
    (void)await_outside(std::move(make), &error, &completed);
    CHECK_FALSE(completed);
    return error;
}

// Records every report of a Loop.
struct Reports {
    std::vector<ExceptionContext> seen;
    ExceptionHandler handler() {
        return [this](const ExceptionContext& context) { seen.push_back(context); };
    }
};

// Runs `loop` until `done()` or a bound on iterations (no hang if the runtime misbehaves).
template <class Done>
void run_until(uv_loop_t* loop, Done done) {
    for (int i = 0; i < 100'000 && !done(); ++i) {
        uv_run(loop, UV_RUN_ONCE);
    }
}

// A local whose destructor tries to spawn: a RAII guard starting an async cleanup.
struct SpawnsOnDestruction {
    std::string* outcome;
    ~SpawnsOnDestruction() {
        try {
            (void)spawn(returns(1));
            *outcome = "spawned";
        } catch (const InvalidStateError& e) {
            *outcome = std::string("InvalidStateError: ") + e.what();
        }
    }
};

Task<void> sleeps_with_guard(std::string* outcome) {
    SpawnsOnDestruction guard{outcome};
    co_await sleep(10s);
}

Task<void> awaits_handle(TaskHandle<void>* target) { co_await *target; }

Task<void> awaits_itself(TaskHandle<void>* self, std::string* error) {
    co_await yield_now();
    try {
        co_await *self;
    } catch (const InvalidStateError& e) {
        *error = e.what();
    }
}

}  // namespace

TEST_SUITE("misuse") {
    TEST_CASE("6 awaiting a handle from another thread's loop is an InvalidStateError naming it") {
        // The far task is still pending on a live loop while we await it here.
        std::atomic<bool> ready{false};
        TaskHandle<void> far;
        std::thread other([&far, &ready] {
            uv_loop_t loop;
            CHECK(uv_loop_init(&loop) == 0);
            {
                Loop adopted(&loop);
                far = spawn(sleeps_forever(), "far-sleeper");
                ready.store(true);
                run_until(&loop, [&far] { return far.done(); });
            }
            uv_run(&loop, UV_RUN_DEFAULT);
            CHECK(uv_loop_close(&loop) == 0);
        });
        while (!ready.load()) {
            std::this_thread::yield();
        }
        std::string error;
        run_test([](TaskHandle<void> target, std::string* out) -> Task<void> {
            try {
                co_await target;
            } catch (const InvalidStateError& e) {
                *out = e.what();
            }
        }(far, &error));
        CHECK(contains(error, "far-sleeper"));
        CHECK(contains(error, "another loop"));
        CHECK(far.cancel("done with it"));  // cancel() is the one thread-safe operation
        other.join();
        CHECK(far.cancelled());
    }

    TEST_CASE("6 awaiting a handle whose loop ran on a finished thread is an InvalidStateError") {
        TaskHandle<int> far;
        std::thread other([&far] {
            uv_loop_t loop;
            CHECK(uv_loop_init(&loop) == 0);
            {
                Loop adopted(&loop);
                far = spawn(returns(5), "far-done");
                run_until(&loop, [&far] { return far.done(); });
            }
            uv_run(&loop, UV_RUN_DEFAULT);
            CHECK(uv_loop_close(&loop) == 0);
        });
        other.join();  // the handle comes back through the join
        REQUIRE(far.done());
        std::string error;
        run_test([](TaskHandle<int> target, std::string* out) -> Task<void> {
            try {
                const int v = co_await target;
                FAIL("the join returned " << v);
            } catch (const InvalidStateError& e) {
                *out = e.what();
            }
        }(far, &error));
        CHECK(contains(error, "far-done"));
    }

    TEST_CASE("6 awaiting a handle of an earlier loop on the same thread is an InvalidStateError") {
        TaskHandle<int> old;
        run_test([](TaskHandle<int>* out) -> Task<void> {
            *out = spawn(returns(3), "from-the-first-loop");
            co_await *out;
        }(&old));
        REQUIRE(old.done());
        std::string error;
        run_test([](TaskHandle<int> target, std::string* out) -> Task<void> {
            try {
                const int v = co_await target;
                FAIL("the join returned " << v);
            } catch (const InvalidStateError& e) {
                *out = e.what();
            }
        }(old, &error));
        CHECK(contains(error, "from-the-first-loop"));
    }

    TEST_CASE("6 a task awaiting its own handle is an InvalidStateError naming it") {
        run_test([]() -> Task<void> {
            TaskHandle<void> self;
            std::string error;
            self = spawn(awaits_itself(&self, &error), "narcissus");
            co_await self;
            CHECK(contains(error, "narcissus"));
            CHECK(contains(error, "itself"));
        }());
    }

    TEST_CASE("6 tasks awaiting each other in a cycle end cancelled when one is cancelled") {
        run_test([]() -> Task<void> {
            TaskHandle<void> a;
            TaskHandle<void> b;
            a = spawn(awaits_handle(&b), "cycle-a");
            b = spawn(awaits_handle(&a), "cycle-b");
            co_await yield_now();
            co_await yield_now();
            CHECK_FALSE(a.done());
            CHECK(a.cancel("break the cycle"));
            bool a_cancelled = false;
            try {
                co_await shield(a);
            } catch (const CancelledError& e) {
                a_cancelled = e.message() == "break the cycle";
            }
            CHECK(a_cancelled);
            bool b_cancelled = false;
            try {
                co_await shield(b);
            } catch (const CancelledError&) {
                b_cancelled = true;
            }
            CHECK(b_cancelled);
            CHECK(a.cancelled());
            CHECK(b.cancelled());
        }());
    }

    TEST_CASE("6 result() before the task is done is an InvalidStateError") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn(returns(4), "unfinished");
            try {
                (void)h.result();
                FAIL("result() returned before the task ran");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "unfinished"));
            }
            const int v = co_await h;
            CHECK(v == 4);
        }());
    }

    TEST_CASE("6 spawn() with no loop on this thread is an InvalidStateError") {
        REQUIRE(Loop::current() == nullptr);
        CHECK(Counted::alive == 0);
        try {
            (void)spawn(sleeps_holding(Counted{}));
            FAIL("spawn() without a loop returned");
        } catch (const InvalidStateError& e) {
            CHECK(contains(e.what(), "no uvtask Loop"));
        }
        CHECK(Counted::alive == 0);  // the task's frame was not leaked
        // Also on a thread that never had a loop.
        bool threw = false;
        std::thread([&threw] {
            try {
                (void)spawn(returns(1));
            } catch (const InvalidStateError&) {
                threw = true;
            }
        }).join();
        CHECK(threw);
    }

    TEST_CASE("6 spawn() on a closed loop is an InvalidStateError") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            detail::LoopAccess::core(adopted).close();
            CHECK(Counted::alive == 0);
            try {
                (void)spawn(sleeps_holding(Counted{}));
                FAIL("spawn() on a closed loop returned");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "closed"));
            }
            CHECK(Counted::alive == 0);
            CHECK(adopted.live_tasks() == 0);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("6 spawn() from a task destroyed with its Loop is an InvalidStateError") {
        // A RAII guard in a pending task tries to spawn when the Loop's destruction destroys it.
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        std::string outcome;
        Reports reports;
        {
            Loop adopted(&loop);
            adopted.set_exception_handler(reports.handler());
            TaskHandle<void> h = spawn(sleeps_with_guard(&outcome), "guarded");
            uv_run(&loop, UV_RUN_NOWAIT);  // the body runs up to its sleep
            REQUIRE_FALSE(h.done());
        }
        CHECK(contains(outcome, "InvalidStateError"));
        REQUIRE(reports.seen.size() == 1);
        CHECK(reports.seen[0].task_name == "guarded");
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("6 spawn() from a task destroyed at the end of run() is an InvalidStateError") {
        std::string outcome;
        bool slept_through = false;
        Reports reports;
        RunOptions options;
        options.shutdown_grace = 20ms;
        options.exception_handler = reports.handler();
        run(
            [](std::string* out, bool* slept) -> Task<void> {
                // Refuses the shutdown cancel, so it is destroyed after the grace period.
                auto stubborn = [](std::string* o, bool* s) -> Task<void> {
                    SpawnsOnDestruction guard{o};
                    for (;;) {
                        try {
                            co_await sleep(10s);
                            *s = true;
                        } catch (const CancelledError&) {
                        }
                    }
                };
                (void)spawn(stubborn(out, slept), "stubborn");
                co_await yield_now();
            }(&outcome, &slept_through),
            options);
        CHECK(contains(outcome, "InvalidStateError"));
        CHECK_FALSE(slept_through);
        REQUIRE(reports.seen.size() == 1);
        CHECK(reports.seen[0].task_name == "stubborn");
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

    TEST_CASE("6 sleep() awaited outside a task is an InvalidStateError") {
        CHECK(contains(outside_task_error([] { return sleep(1ms); }), "sleep()"));
        CHECK(contains(
            outside_task_error([] { return sleep_until(std::chrono::steady_clock::now()); }),
            "outside"));
    }

    TEST_CASE("6 co_await on a handle outside a task is an InvalidStateError") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            TaskHandle<int> h = spawn(returns(2));
            CHECK(contains(outside_task_error([h] { return h.operator co_await(); }), "outside"));
            CHECK(contains(outside_task_error([h] { return shield(h); }), "outside"));
            run_until(&loop, [&h] { return h.done(); });
            CHECK(h.result() == 2);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("6 negative and NaN durations are an InvalidDurationError at the call") {
        CHECK_THROWS_AS((void)sleep(-1ms), InvalidDurationError);
        CHECK_THROWS_AS((void)sleep(-1ns), InvalidDurationError);
        CHECK_THROWS_AS((void)sleep(std::chrono::duration<double>(NAN)), InvalidDurationError);
        CHECK_THROWS_AS((void)sleep(std::chrono::duration<double>(-0.5)), InvalidDurationError);
        const std::chrono::time_point<std::chrono::steady_clock, std::chrono::duration<double>>
            nan_deadline{std::chrono::duration<double>(NAN)};
        CHECK_THROWS_AS((void)sleep_until(nan_deadline), InvalidDurationError);
        run_test([]() -> Task<void> {
            // Inside a task, at the call: nothing was awaited, the task goes on.
            try {
                co_await sleep(-5ms);
                FAIL("a negative sleep was awaited");
            } catch (const InvalidDurationError& e) {
                CHECK(contains(e.what(), "negative"));
            }
            try {
                co_await sleep(std::chrono::duration<double, std::milli>(NAN));
                FAIL("a NaN sleep was awaited");
            } catch (const InvalidDurationError& e) {
                CHECK(contains(e.what(), "NaN"));
            }
            co_await sleep(0ms);  // zero is fine
        }());
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            CHECK_THROWS_AS(adopted.set_time_slice(-1ns), InvalidDurationError);
            adopted.set_time_slice(0ns);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }

    TEST_CASE("6 negative durations in RunOptions are an InvalidDurationError from run()") {
        Reports reports;
        bool ran = false;
        auto body = [](bool* flag) -> Task<void> {
            *flag = true;
            co_return;
        };
        RunOptions bad_grace;
        bad_grace.shutdown_grace = -1ms;
        bad_grace.exception_handler = reports.handler();
        CHECK_THROWS_AS(run(body(&ran), bad_grace), InvalidDurationError);
        RunOptions bad_slice;
        bad_slice.time_slice = -1ns;
        bad_slice.exception_handler = reports.handler();
        CHECK_THROWS_AS(run(body(&ran), bad_slice), InvalidDurationError);
        CHECK_FALSE(ran);
        CHECK(reports.seen.empty());
        CHECK(Loop::current() == nullptr);
    }

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

    TEST_CASE("6 run() inside run() is an InvalidStateError") {
        const int v = run([]() -> Task<int> {
            bool inner_ran = false;
            auto inner = [](bool* flag) -> Task<int> {
                *flag = true;
                co_return 1;
            };
            try {
                (void)run(inner(&inner_ran));
                FAIL("a nested run() returned");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "Loop"));
            }
            CHECK_FALSE(inner_ran);
            co_await yield_now();  // the outer loop still works
            co_return 2;
        }());
        CHECK(v == 2);
    }

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

    TEST_CASE("6 every operation on an empty TaskHandle is an InvalidStateError") {
        TaskHandle<void> empty;
        CHECK_THROWS_AS(empty.cancel(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.cancelling(), InvalidStateError);
        CHECK_THROWS_AS(empty.uncancel(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.done(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.cancelled(), InvalidStateError);
        CHECK_THROWS_AS(empty.result(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.exception(), InvalidStateError);
        CHECK_THROWS_AS((void)empty.name(), InvalidStateError);
        CHECK_THROWS_AS(empty.add_done_callback([](const TaskHandle<void>&) {}), InvalidStateError);
        run_test([]() -> Task<void> {
            TaskHandle<void> none;
            try {
                co_await none;
                FAIL("awaiting an empty handle returned");
            } catch (const InvalidStateError& e) {
                CHECK(contains(e.what(), "empty"));
            }
        }());
    }

    TEST_CASE("6 spawn() of an empty Task is an InvalidStateError") {
        run_test([]() -> Task<void> {
            Task<int> t = returns(1);
            const int v = co_await t;  // consumes it
            CHECK(v == 1);
            CHECK_THROWS_AS((void)spawn(std::move(t)), InvalidStateError);
        }());
    }
}
