// Loop::post(f): asyncio's call_soon_threadsafe — any thread hands the loop a call, which runs on
// the loop's thread on a later turn, in order per sender; a closed loop refuses it by name.
#include <uvtask/loop.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
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
using uvtask::testing::run_test;
using uvtask::testing::spin_for;

namespace {

constexpr int per_thread = 5000;

Task<void> sleeps_with(AtDestruction guard) {
    (void)guard;
    co_await sleep(1h);
}

// What a posted call saw of where it runs.
struct Seen {
    std::thread::id thread;
    Loop* current = nullptr;
    bool inside_a_task = true;
};

Seen where_am_i() {
    Seen seen;
    seen.thread = std::this_thread::get_id();
    seen.current = Loop::current();
    try {
        (void)this_task::name();
    } catch (const InvalidStateError&) {
        seen.inside_a_task = false;
    }
    return seen;
}

// Tries to post from this thread; returns the error's text, or "accepted".
std::string try_post(Loop& loop, std::function<void()> f) {
    try {
        loop.post(std::move(f));
        return "accepted";
    } catch (const InvalidStateError& e) {
        return e.what();
    }
}

}  // namespace

TEST_SUITE("loop") {
    TEST_CASE("a call posted from another thread runs on the loop's thread, outside any task") {
        run_test([]() -> Task<void> {
            Loop* loop = Loop::current();
            Event ran;
            Seen seen;
            std::thread poster([loop, &ran, &seen] {
                loop->post([&ran, &seen] {
                    seen = where_am_i();
                    ran.set();
                });
            });
            co_await ran.wait();
            poster.join();
            CHECK(seen.thread == std::this_thread::get_id());
            CHECK(seen.current == loop);
            CHECK_FALSE(seen.inside_a_task);
        }());
    }

    TEST_CASE("a call posted on the loop's own thread runs on a later turn, never inside post()") {
        run_test([]() -> Task<void> {
            Event ran;
            bool inside_post = true;
            bool returned = false;
            Loop::current()->post([&] {
                inside_post = !returned;
                ran.set();
            });
            returned = true;
            co_await ran.wait();
            CHECK_FALSE(inside_post);
        }());
    }

    TEST_CASE("calls from one thread run in the order it posted them, whatever other threads do") {
        run_test([]() -> Task<void> {
            Loop* loop = Loop::current();
            std::vector<int> order[2];
            int finished = 0;
            Event all_ran;
            auto post_all = [loop, &order, &finished, &all_ran](int who) {
                for (int i = 0; i < per_thread; ++i) {
                    loop->post([&order, &finished, &all_ran, who, i] {
                        order[who].push_back(i);
                        if (i == per_thread - 1 && ++finished == 2) {
                            all_ran.set();
                        }
                    });
                }
            };
            std::thread first(post_all, 0);
            std::thread second(post_all, 1);
            co_await all_ran.wait();
            first.join();
            second.join();
            for (const auto& calls : order) {
                REQUIRE(calls.size() == per_thread);
                bool in_order = true;
                for (int i = 0; i < per_thread; ++i) {
                    in_order = in_order && calls[static_cast<std::size_t>(i)] == i;
                }
                CHECK(in_order);
            }
        }());
    }

    TEST_CASE("an exception from a posted call goes to the exception handler; later calls run") {
        const auto run = run_test(
            []() -> Task<void> {
                Loop* loop = Loop::current();
                Event ran;
                std::thread poster([loop, &ran] {
                    loop->post([] { throw std::runtime_error("posted boom"); });
                    loop->post([&ran] { ran.set(); });
                });
                co_await ran.wait();
                poster.join();
            }(),
            {.expect_reports = true});
        REQUIRE(run.reports.size() == 1);
        CHECK(run.reports[0].message == "exception in a call posted to the loop");
        try {
            std::rethrow_exception(run.reports[0].exception);
        } catch (const std::runtime_error& e) {
            CHECK(std::string(e.what()) == "posted boom");
        }
    }

    TEST_CASE("a post to a closed loop throws InvalidStateError; the call neither runs nor leaks") {
        // The loop is closed (its destructor has begun: it refuses work) but the Loop object is
        // still alive — what Loop::post requires. A pending task's frame, destroyed by the
        // teardown, posts from the loop's thread and from another thread then.
        CHECK(Counted::alive == 0);
        std::string from_loop_thread;
        std::string from_other_thread;
        bool ran = false;
        std::vector<ExceptionContext> reports;
        {
            auto loop = std::make_unique<Loop>();
            loop->set_exception_handler([&](const ExceptionContext& c) { reports.push_back(c); });
            Loop* raw = loop.get();
            (void)spawn(sleeps_with(AtDestruction([&, raw] {
                from_loop_thread = try_post(*raw, [&ran, held = Counted{}] { ran = true; });
                std::thread([&, raw] {
                    from_other_thread = try_post(*raw, [&ran, held = Counted{}] { ran = true; });
                }).join();
            })));
            uv_run(loop->native(), UV_RUN_NOWAIT);  // the task starts and sleeps
        }
        CHECK(from_loop_thread == "Loop::post(): the loop is closed");
        CHECK(from_other_thread == "Loop::post(): the loop is closed");
        CHECK_FALSE(ran);
        CHECK(Counted::alive == 0);
        CHECK(reports.size() == 1);  // the sleeping task, destroyed while pending
    }

    TEST_CASE("a post racing the loop's shutdown either runs once or throws, never is lost") {
        // Each round: a thread posts as fast as it can while the loop thread, after a seeded
        // number of calls have run, destroys the Loop. Every accepted call must run exactly
        // once (before the close or during the teardown), every refused one never; the thread
        // stops at its first refusal, which a pending task's frame waits for during the
        // teardown (so the Loop outlives every post, as Loop::post requires).
        std::mt19937_64 rng(0x5EED0001);
        for (int round = 0; round < 200; ++round) {
            const int wanted = static_cast<int>(rng() % 64);
            const std::uint64_t gap_ns = rng() % 2000;
            std::atomic<int> accepted{0};
            std::atomic<bool> refused{false};
            std::string refusal;
            int ran = 0;  // loop thread
            std::vector<ExceptionContext> reports;
            std::thread poster;
            {
                Loop loop;
                loop.set_exception_handler(
                    [&](const ExceptionContext& c) { reports.push_back(c); });
                (void)spawn(sleeps_with(AtDestruction([&refused] {
                    while (!refused.load(std::memory_order_acquire)) {
                        std::this_thread::yield();
                    }
                })));
                poster = std::thread([&] {
                    for (;;) {
                        try {
                            loop.post([&ran, held = Counted{}] { ++ran; });
                        } catch (const InvalidStateError& e) {
                            refusal = e.what();
                            refused.store(true, std::memory_order_release);
                            return;
                        }
                        accepted.fetch_add(1, std::memory_order_relaxed);
                        spin_for(gap_ns);
                    }
                });
                while (ran < wanted) {
                    uv_run(loop.native(), UV_RUN_ONCE);  // the sleeping task keeps it alive
                }
            }
            poster.join();
            CHECK(ran == accepted.load());
            CHECK(refusal == "Loop::post(): the loop is closed");
            CHECK(Counted::alive == 0);
            CHECK(reports.size() == 1);  // the sleeping task
            if (ran != accepted.load()) {
                FAIL("round " << round << ": " << accepted.load() << " accepted, " << ran
                              << " ran");
            }
        }
    }

    TEST_CASE("posts from two threads to a loop on a third all run, in order per thread") {
        testing::LoopThread far;
        Loop& loop = far.loop();
        std::atomic<int> out_of_order{0};
        std::atomic<int> total{0};
        auto post_all = [&](int who) {
            auto last = std::make_shared<int>(-1);  // loop thread only
            for (int i = 0; i < per_thread; ++i) {
                loop.post([&, last, i, who] {
                    if (*last != i - 1 || std::this_thread::get_id() != far.id()) {
                        out_of_order.fetch_add(1);
                    }
                    *last = i;
                    total.fetch_add(1);
                    (void)who;
                });
            }
        };
        std::thread first(post_all, 0);
        std::thread second(post_all, 1);
        first.join();
        second.join();
        far.stop();  // runs what was accepted, then tears down
        CHECK(total.load() == 2 * per_thread);
        CHECK(out_of_order.load() == 0);
        CHECK(far.reports().empty());
    }
}
