// spawn_on(loop, task, name): any thread starts a task on a given loop and gets its handle at
// once; the handle outlives the loop, readable from any thread once the task is done.
#include <uvtask/spawn.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop_thread.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::AtDestruction;
using uvtask::testing::Counted;
using uvtask::testing::LoopThread;
using uvtask::testing::run_test;
using uvtask::testing::spin_for;

namespace {

Task<int> records_thread(std::thread::id* ran_on, Loop** loop_seen, int value) {
    *ran_on = std::this_thread::get_id();
    *loop_seen = Loop::current();
    co_await yield_now();
    co_return value;
}

Task<int> marks_ran(bool* ran, Counted held) {
    (void)held;
    *ran = true;
    co_return 1;
}

Task<void> sleeps_with(AtDestruction guard) {
    (void)guard;
    co_await sleep(1h);
}

Task<int> returns(int v) {
    co_await yield_now();
    co_return v;
}

Task<int> fails(std::string what) {
    co_await yield_now();
    throw std::runtime_error(what);
}

Task<int> sleeps_long() {
    co_await sleep(1h);
    co_return 0;
}

std::string message_of(const TaskHandle<int>& h) {
    try {
        (void)h.result();
    } catch (const CancelledError& e) {
        return "CancelledError: " + e.message() + " (" + std::string(to_string(e.kind())) + ")";
    } catch (const std::exception& e) {
        return e.what();
    }
    return "a value";
}

}  // namespace

TEST_SUITE("spawn") {
    TEST_CASE("spawn_on from another thread runs the body on the loop's thread") {
        run_test([]() -> Task<void> {
            Loop* loop = Loop::current();
            std::thread::id ran_on;
            Loop* loop_seen = nullptr;
            std::promise<TaskHandle<int>> handed;
            std::thread spawner([&] {
                handed.set_value(
                    spawn_on(*loop, records_thread(&ran_on, &loop_seen, 42), "far-spawned"));
            });
            TaskHandle<int> h = handed.get_future().get();  // spawn_on never waits for the loop
            spawner.join();
            const int v = co_await h;
            CHECK(v == 42);
            CHECK(ran_on == std::this_thread::get_id());
            CHECK(loop_seen == loop);
            CHECK(h.name() == "far-spawned");
        }());
    }

    TEST_CASE("spawn_on on the loop's own thread is spawn") {
        run_test([]() -> Task<void> {
            TaskHandle<int> h = spawn_on(*Loop::current(), returns(5));
            CHECK(Loop::current()->live_tasks() == 2);  // adopted at once, like spawn()
            const int v = co_await h;
            CHECK(v == 5);
        }());
    }

    TEST_CASE("the handle is usable at once: cancelled before the loop took it in, it never runs") {
        CHECK(Counted::alive == 0);
        Loop loop;  // this thread's; not running while the other thread works
        bool ran = false;
        TaskHandle<int> h;
        std::string name;
        bool cancel_accepted = false;
        bool done_at_once = true;
        std::thread spawner([&] {
            h = spawn_on(loop, marks_ran(&ran, Counted{}), "early-bird");
            name = h.name();
            done_at_once = h.done();
            cancel_accepted = h.cancel("before it started");
        });
        spawner.join();
        CHECK(name == "early-bird");
        CHECK_FALSE(done_at_once);
        CHECK(cancel_accepted);
        {
            testing::KeepAlive polling(loop);  // nothing local keeps uv_run polling the inbox
            while (!h.done()) {
                uv_run(loop.native(), UV_RUN_ONCE);
            }
        }
        CHECK(h.cancelled());
        CHECK_FALSE(ran);
        CHECK(message_of(h) == "CancelledError: before it started (user)");
        CHECK(Counted::alive == 0);
        CHECK(loop.live_tasks() == 0);
    }

    TEST_CASE("a task handed over but not taken in before its loop closes ends cancelled, unrun") {
        CHECK(Counted::alive == 0);
        bool ran = false;
        TaskHandle<int> h;
        std::vector<ExceptionContext> reports;
        {
            Loop loop;
            loop.set_exception_handler([&](const ExceptionContext& c) { reports.push_back(c); });
            std::thread([&] { h = spawn_on(loop, marks_ran(&ran, Counted{}), "too-late"); }).join();
            CHECK(Counted::alive == 1);  // queued in the loop's inbox
            // The loop never ran: its teardown takes the task in.
        }
        REQUIRE(h.done());
        CHECK(h.cancelled());
        CHECK_FALSE(ran);
        CHECK(message_of(h) ==
              "CancelledError: the loop closed before the task started (shutdown)");
        CHECK(Counted::alive == 0);
        CHECK(reports.empty());  // it had nothing to clean up: not reported
    }

    TEST_CASE("spawn_on to a closed loop throws InvalidStateError and frees the task") {
        CHECK(Counted::alive == 0);
        std::string from_loop_thread;
        std::string from_other_thread;
        bool ran = false;
        Loop* raw = nullptr;
        // Declared before the Loop: the teardown below calls it, so it must outlive the Loop.
        auto attempt = [&raw, &ran] {
            try {
                (void)spawn_on(*raw, marks_ran(&ran, Counted{}));
                return std::string("accepted");
            } catch (const InvalidStateError& e) {
                return std::string(e.what());
            }
        };
        {
            Loop loop;
            loop.set_exception_handler([](const ExceptionContext&) {});
            raw = &loop;
            // A pending task's frame, destroyed by the teardown (the loop is closed by then).
            (void)spawn(sleeps_with(AtDestruction([&] {
                from_loop_thread = attempt();
                std::thread([&] { from_other_thread = attempt(); }).join();
            })));
        }
        CHECK(from_loop_thread == "spawn_on(): the loop is closed");
        CHECK(from_other_thread == "spawn_on(): the loop is closed");
        CHECK_FALSE(ran);
        CHECK(Counted::alive == 0);
    }

    TEST_CASE("a handle stays readable on any thread after its loop has ended") {
        TaskHandle<int> value;
        TaskHandle<int> failure;
        TaskHandle<int> cancelled;
        {
            LoopThread far;
            value = spawn_on(far.loop(), returns(7), "value");
            failure = spawn_on(far.loop(), fails("far failure"), "failure");
            cancelled = spawn_on(far.loop(), sleeps_long(), "cancelled");
            CHECK(cancelled.cancel("from the test thread"));
            while (!value.done() || !failure.done() || !cancelled.done()) {
                std::this_thread::yield();  // done() is readable from any thread
            }
            far.stop();  // the loop and its thread are gone
            CHECK(far.reports().empty());
        }
        REQUIRE(value.done());
        REQUIRE(failure.done());
        REQUIRE(cancelled.done());
        CHECK(value.result() == 7);
        CHECK(message_of(failure) == "far failure");
        CHECK(failure.exception() != nullptr);
        CHECK(cancelled.cancelled());
        CHECK(message_of(cancelled) == "CancelledError: from the test thread (user)");
        CHECK(value.name() == "value");
        CHECK_FALSE(value.cancel());  // done: nothing to cancel, nothing touched
    }

    TEST_CASE("spawn_on racing the loop's shutdown: every handle ends, every refusal is named") {
        // Each round: a thread spawns tasks onto the loop as fast as it can while the loop
        // thread, after a seeded number of them have run, destroys the Loop. Each handle
        // returned must end — with its value (it ran) or cancelled without running (the loop
        // closed first) — and each refusal is InvalidStateError; nothing leaks. The spawner
        // stops at its first refusal, which the teardown waits for (the Loop outlives every
        // call, as spawn_on requires).
        std::mt19937_64 rng(0x5EED0002);
        for (int round = 0; round < 100; ++round) {
            const int wanted = static_cast<int>(rng() % 32);
            const std::uint64_t gap_ns = rng() % 3000;
            std::vector<TaskHandle<int>> handles;  // the spawner's until joined
            std::atomic<bool> refused{false};
            std::string refusal;
            int ran = 0;  // loop thread
            std::thread spawner;
            {
                Loop loop;
                loop.set_exception_handler([](const ExceptionContext&) {});
                (void)spawn(sleeps_with(AtDestruction([&refused] {
                    while (!refused.load(std::memory_order_acquire)) {
                        std::this_thread::yield();
                    }
                })));
                spawner = std::thread([&] {
                    for (;;) {
                        try {
                            handles.push_back(spawn_on(loop, [](int* count) -> Task<int> {
                                ++*count;
                                co_return 1;
                            }(&ran)));
                        } catch (const InvalidStateError& e) {
                            refusal = e.what();
                            refused.store(true, std::memory_order_release);
                            return;
                        }
                        spin_for(gap_ns);
                    }
                });
                while (ran < wanted) {
                    uv_run(loop.native(), UV_RUN_ONCE);
                }
            }
            spawner.join();
            CHECK(refusal == "spawn_on(): the loop is closed");
            int with_value = 0;
            int unrun = 0;
            int pending = 0;
            for (const auto& h : handles) {
                if (!h.done()) {
                    ++pending;
                } else if (h.cancelled()) {
                    ++unrun;
                } else {
                    with_value += h.result();
                }
            }
            CHECK(pending == 0);
            CHECK(with_value == ran);
            CHECK(with_value + unrun == static_cast<int>(handles.size()));
            CHECK(Counted::alive == 0);
        }
    }
}
