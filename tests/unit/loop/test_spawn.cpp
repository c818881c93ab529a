// spawn(): the body starts on a later loop turn, names, a task cancelled before it first ran,
// and the misuses (no loop, a closed loop, a loop being destroyed, an empty Task;
// docs/semantics.md §2, §3.5, §6).
#include <uvtask/spawn.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <string>
#include <thread>
#include <utility>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::cancel_of;
using uvtask::testing::contains;
using uvtask::testing::Counted;
using uvtask::testing::join;
using uvtask::testing::Reports;
using uvtask::testing::run_test;
using uvtask::testing::set_flag_and_return;

namespace {

Task<int> returns(int value) { co_return value; }

Task<void> sleeps_holding(Counted) {
    Counted local;
    co_await sleep(10s);
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

}  // namespace

TEST_SUITE("spawn") {
    TEST_CASE("the body starts on a later loop turn, never inside spawn()") {
        run_test([]() -> Task<void> {
            bool ran = false;
            auto body = [](bool* flag) -> Task<void> {
                *flag = true;
                co_return;
            };
            TaskHandle<void> h = spawn(body(&ran));
            CHECK_FALSE(ran);
            co_await h;
            CHECK(ran);
        }());
    }

    TEST_CASE("a task gets the name given to spawn(), or a distinct default \"Task-N\"") {
        run_test([]() -> Task<void> {
            TaskHandle<int> named = spawn(returns(1), "fetcher");
            TaskHandle<int> a = spawn(returns(2));
            TaskHandle<int> b = spawn(returns(3));
            CHECK(named.name() == "fetcher");
            const auto is_default = [](const std::string& name) {
                if (name.rfind("Task-", 0) != 0 || name.size() == 5) {
                    return false;
                }
                return name.find_first_not_of("0123456789", 5) == std::string::npos;
            };
            CHECK(is_default(a.name()));
            CHECK(is_default(b.name()));
            CHECK(a.name() != b.name());
            co_await named;
            co_await a;
            co_await b;
            CHECK(a.name() != b.name());  // the name outlives the body
        }());
    }

    TEST_CASE("3.5 a task cancelled before its body first ran ends cancelled without running it") {
        run_test([]() -> Task<void> {
            bool ran = false;
            auto task = spawn(set_flag_and_return(&ran, 1));
            CHECK(task.cancel("early"));
            auto error = co_await cancel_of(join(task));
            REQUIRE(error.has_value());
            CHECK(error->message() == "early");
            CHECK_FALSE(ran);
            CHECK(task.cancelled());
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("a task cancelled before its body ran ends cancelled and its frame is freed") {
        CHECK(Counted::alive == 0);
        run_test([]() -> Task<void> {
            auto body = [](Counted) -> Task<void> {
                FAIL("the body must not run");
                co_return;
            };
            TaskHandle<void> h = spawn(body(Counted{}));
            CHECK(Counted::alive == 1);
            CHECK(h.cancel("before start"));
            bool threw = false;
            try {
                co_await h;
            } catch (const CancelledError& e) {
                threw = e.message() == "before start";
            }
            CHECK(threw);
            CHECK(h.cancelled());
            CHECK(Counted::alive == 0);
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

    TEST_CASE("6 spawn() of an empty Task is an InvalidStateError") {
        run_test([]() -> Task<void> {
            Task<int> t = returns(1);
            const int v = co_await t;  // consumes it
            CHECK(v == 1);
            CHECK_THROWS_AS((void)spawn(std::move(t)), InvalidStateError);
        }());
    }
}
