// LoopGroup: n loops on n threads, started and stopped together; tasks placed on the least-loaded
// loop; run(main) on loop 0; a shutdown that cancels and awaits every task on every loop.
#include <uvtask/loop_group.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "loop_thread.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Counted;
using uvtask::testing::spin_for;

namespace {

// Reports of a group's loops (its handler is called one at a time, from the loops' threads).
struct Reports {
    std::mutex mutex;
    std::vector<ExceptionContext> seen;
    RunOptions options(std::chrono::milliseconds grace = 5000ms) {
        RunOptions o;
        o.shutdown_grace = grace;
        o.exception_handler = [this](const ExceptionContext& c) {
            std::lock_guard<std::mutex> guard(mutex);
            seen.push_back(c);
        };
        return o;
    }
    std::size_t count() {
        std::lock_guard<std::mutex> guard(mutex);
        return seen.size();
    }
};

// Where a task ran: the index of its loop in `group`.
std::size_t index_of_current(const LoopGroup& group) {
    for (std::size_t i = 0; i < group.size(); ++i) {
        if (&group.loop(i) == Loop::current()) {
            return i;
        }
    }
    return group.size();
}

// Sleeps until cancelled, then returns the index of the loop it ran on.
Task<std::size_t> reports_its_loop(const LoopGroup* group, std::atomic<int>* started) {
    Counted local;
    started->fetch_add(1);
    try {
        co_await sleep(1h);
    } catch (const CancelledError&) {
    }
    co_return index_of_current(*group);
}

// Refuses the shutdown's cancel for a while: cleans up over several suspension points, then
// ends cancelled.
Task<void> cleans_up_slowly(std::atomic<int>* started, std::atomic<int>* cleaned) {
    Counted local;
    started->fetch_add(1);
    bool stopping = false;
    try {
        co_await sleep(1h);
    } catch (const CancelledError&) {
        stopping = true;
    }
    if (stopping) {
        for (int i = 0; i < 5; ++i) {
            co_await sleep(2ms);  // the cleanup's own awaits run normally (one delivery)
        }
        cleaned->fetch_add(1);
        throw CancelledError("cleaned up", CancelKind::shutdown);
    }
}

Task<void> refuses_forever(std::atomic<int>* started) {
    Counted local;
    started->fetch_add(1);
    for (;;) {
        try {
            co_await sleep(1h);
        } catch (const CancelledError&) {
            // refused; nobody asks twice
        }
    }
}

void wait_until(const std::atomic<int>& value, int wanted) {
    while (value.load() < wanted) {
        std::this_thread::yield();
    }
}

}  // namespace

TEST_SUITE("loop_group") {
    TEST_CASE("LoopGroup() has one loop per core, each running on a thread of its own") {
        const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
        LoopGroup group;
        REQUIRE(group.size() == cores);
        std::mutex mutex;
        std::set<std::thread::id> threads;
        std::atomic<std::size_t> right_loop{0};
        std::atomic<std::size_t> ran{0};
        for (std::size_t i = 0; i < group.size(); ++i) {
            Loop* expected = &group.loop(i);
            group.loop(i).post([&, expected] {
                std::lock_guard<std::mutex> guard(mutex);
                threads.insert(std::this_thread::get_id());
                if (Loop::current() == expected) {
                    right_loop.fetch_add(1);
                }
                ran.fetch_add(1);
            });
        }
        while (ran.load() < group.size()) {
            std::this_thread::yield();
        }
        group.shutdown();
        CHECK(threads.size() == group.size());
        CHECK(threads.count(std::this_thread::get_id()) == 0);
        CHECK(right_loop.load() == group.size());
    }

    TEST_CASE("a LoopGroup of size 0 and a loop index out of range are named errors") {
        CHECK_THROWS_AS(LoopGroup(0), std::invalid_argument);
        LoopGroup group(2);
        CHECK_THROWS_AS((void)group.loop(2), std::out_of_range);
        RunOptions negative;
        negative.shutdown_grace = -1ms;
        CHECK_THROWS_AS(LoopGroup(1, negative), InvalidDurationError);
    }

    TEST_CASE("spawn places each task on the least-loaded loop, ties going round the group") {
        LoopGroup group(2);
        std::atomic<int> started{0};
        std::vector<TaskHandle<std::size_t>> by_hand;
        for (int i = 0; i < 3; ++i) {
            by_hand.push_back(spawn_on(group.loop(0), reports_its_loop(&group, &started)));
        }
        // Loads 3 and 0: three spawns go to loop 1; at 3 and 3, the next two go one to each.
        std::vector<TaskHandle<std::size_t>> placed;
        for (int i = 0; i < 5; ++i) {
            placed.push_back(group.spawn(reports_its_loop(&group, &started)));
        }
        wait_until(started, 8);
        for (auto& h : by_hand) {
            h.cancel();
        }
        for (auto& h : placed) {
            h.cancel();
        }
        group.shutdown();
        std::vector<std::size_t> loops;
        for (auto& h : by_hand) {
            CHECK(h.result() == 0);
        }
        for (auto& h : placed) {
            loops.push_back(h.result());
        }
        CHECK(loops[0] == 1);
        CHECK(loops[1] == 1);
        CHECK(loops[2] == 1);
        CHECK(loops[3] != loops[4]);
        CHECK(Counted::alive == 0);
    }

    TEST_CASE("run(main) runs main on loop 0, returns its result, and stops the group") {
        LoopGroup group(2);
        const std::size_t where = group.run([](const LoopGroup* g) -> Task<std::size_t> {
            co_await yield_now();
            co_return index_of_current(*g);
        }(&group));
        CHECK(where == 0);
        CHECK(group.stop_requested());
        CHECK_THROWS_AS(group.spawn([]() -> Task<void> { co_return; }()), InvalidStateError);
        CHECK_THROWS_AS(group.loop(1).post([] {}), InvalidStateError);
        CHECK_THROWS_AS(group.run([]() -> Task<int> { co_return 1; }()), InvalidStateError);
    }

    TEST_CASE("main awaits tasks the group placed on its other loops and gets their values") {
        LoopGroup group(2);
        const int sum = group.run([](LoopGroup* g) -> Task<int> {
            auto far = g->spawn([](const LoopGroup* gg) -> Task<int> {
                co_await yield_now();
                co_return index_of_current(*gg) == 1 ? 20 : -1000;  // loop 0 has main: busier
            }(g));
            const int x = co_await far;
            auto near = spawn([]() -> Task<int> { co_return 22; }());
            const int y = co_await near;
            co_return x + y;
        }(&group));
        CHECK(sum == 42);
    }

    TEST_CASE("run(main) rethrows main's exception after the shutdown") {
        LoopGroup group(2);
        CHECK_THROWS_WITH_AS(group.run([]() -> Task<void> {
            co_await yield_now();
            throw std::runtime_error("main failed");
        }()),
                             "main failed", std::runtime_error);
    }

    TEST_CASE("shutdown cancels every task on every loop and awaits the ones that clean up") {
        Reports reports;
        std::atomic<int> started{0};
        std::atomic<int> cleaned{0};
        std::vector<TaskHandle<void>> handles;
        {
            LoopGroup group(2, reports.options());
            for (int i = 0; i < 8; ++i) {
                handles.push_back(group.spawn(cleans_up_slowly(&started, &cleaned)));
            }
            wait_until(started, 8);
            group.shutdown();  // returns once every loop has shut down and its thread joined
            CHECK(cleaned.load() == 8);
        }
        for (auto& h : handles) {
            REQUIRE(h.done());
            CHECK(h.cancelled());
        }
        CHECK(reports.count() == 0);
        CHECK(Counted::alive == 0);
    }

    TEST_CASE("a task refusing the shutdown past the grace period is destroyed and reported") {
        Reports reports;
        std::atomic<int> started{0};
        TaskHandle<void> stubborn;
        {
            LoopGroup group(2, reports.options(50ms));
            stubborn = group.spawn(refuses_forever(&started), "stubborn");
            wait_until(started, 1);
        }  // the destructor shuts down
        CHECK(stubborn.cancelled());
        REQUIRE(reports.count() == 1);
        CHECK(reports.seen[0].message == "Task was destroyed but it is pending!");
        CHECK(reports.seen[0].task_name == "stubborn");
        CHECK(Counted::alive == 0);
    }

    TEST_CASE(
        "a loop with no task left waits for the others: work their cleanup hands it is taken in") {
        // Loop 1 has nothing to do when the shutdown starts; loop 0's task cleans up for a
        // while, then spawns a task on loop 1. Loop 1 is still running then: it takes the task
        // in and cancels it (the shutdown's cancel, before its body ran) instead of refusing.
        Reports reports;
        std::atomic<int> started{0};
        std::string outcome;
        {
            LoopGroup group(2, reports.options());
            TaskHandle<void> h =
                spawn_on(group.loop(0),
                         [](LoopGroup* g, std::atomic<int>* s, std::string* out) -> Task<void> {
                             s->fetch_add(1);
                             try {
                                 co_await sleep(1h);
                             } catch (const CancelledError&) {
                             }
                             co_await sleep(20ms);
                             try {
                                 TaskHandle<void> late = spawn_on(
                                     g->loop(1), []() -> Task<void> { co_await sleep(1h); }());
                                 while (!late.done()) {
                                     co_await sleep(1ms);
                                 }
                                 try {
                                     late.result();
                                     *out = "ran to its end";
                                 } catch (const CancelledError& e) {
                                     *out = e.message();
                                 }
                             } catch (const InvalidStateError& e) {
                                 *out = e.what();
                             }
                         }(&group, &started, &outcome));
            wait_until(started, 1);
            group.shutdown();
        }
        CHECK(outcome == "loop shutdown");
        CHECK(reports.count() == 0);
    }

    TEST_CASE("request_stop() from a task stops the group; shutdown() there is refused") {
        LoopGroup group(2);
        std::string refused;
        try {
            group.run([](LoopGroup* g, std::string* out) -> Task<void> {
                try {
                    g->shutdown();
                } catch (const InvalidStateError& e) {
                    *out = e.what();
                }
                g->request_stop();
                co_await sleep(1h);  // cancelled by the shutdown
            }(&group, &refused));
            FAIL("run() returned");
        } catch (const CancelledError& e) {
            CHECK(e.kind() == CancelKind::shutdown);
        }
        CHECK(refused.find("own threads") != std::string::npos);
    }

    TEST_CASE("SIGINT during LoopGroup::run cancels main, kind signal") {
        LoopGroup group(2);
        const std::string got = group.run([]() -> Task<std::string> {
            std::raise(SIGINT);
            try {
                co_await sleep(10s);
            } catch (const CancelledError& e) {
                co_return e.message() + " " + std::string(to_string(e.kind()));
            }
            co_return "not cancelled";
        }());
        CHECK(got == "SIGINT signal");
    }

    TEST_CASE("SIGINT that ends main in LoopGroup::run, exit_on_sigint off: KeyboardInterrupt "
              "after the shutdown") {
        RunOptions options;
        options.exit_on_sigint = false;
        LoopGroup group(2, options);
        bool interrupted = false;
        try {
            group.run([]() -> Task<void> {
                std::raise(SIGINT);
                co_await sleep(10s);
            }());
        } catch (const KeyboardInterrupt&) {
            interrupted = true;
        }
        CHECK(interrupted);
    }

    TEST_CASE("spawns from other threads racing the shutdown: each handle ends, refusals named") {
        std::mt19937_64 rng(0x5EED0003);
        for (int round = 0; round < 30; ++round) {
            const std::uint64_t delay = rng() % 200'000;
            std::atomic<bool> stop{false};
            std::vector<TaskHandle<int>> handles[2];
            std::string refusal[2];
            {
                // A short grace: the spawners keep handing in tasks until their first refusal,
                // so the loops never run out of tasks before the grace ends.
                RunOptions options;
                options.shutdown_grace = 20ms;
                options.exception_handler = [](const ExceptionContext&) {};
                LoopGroup group(2, options);
                auto spawner = [&](int who) {
                    while (!stop.load()) {
                        try {
                            handles[who].push_back(group.spawn([]() -> Task<int> {
                                co_await yield_now();
                                co_return 1;
                            }()));
                        } catch (const InvalidStateError& e) {
                            refusal[who] = e.what();
                            return;
                        }
                    }
                };
                std::thread a(spawner, 0);
                std::thread b(spawner, 1);
                spin_for(delay);
                group.shutdown();
                stop.store(true);
                a.join();
                b.join();
            }
            for (int who = 0; who < 2; ++who) {
                for (const auto& h : handles[who]) {
                    CHECK(h.done());
                }
                CHECK((refusal[who].empty() || refusal[who] == "spawn_on(): the loop is closed"));
            }
            CHECK(Counted::alive == 0);
        }
    }
}
