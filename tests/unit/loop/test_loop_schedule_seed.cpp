// Loop::set_schedule_seed / RunOptions::schedule_seed: equally-ready tasks run in an order a seed
// decides — the same seed, the same order; 0 is FIFO; a yielding task still cannot starve the
// others; a failure names the seed (docs/testing.md).
#include <uvtask/loop.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"

using namespace uvtask;
using uvtask::testing::run_test;

namespace {

constexpr int tasks = 10;
constexpr int yields = 3;

Task<void> yielder(std::vector<int>* order, int id) {
    for (int i = 0; i < yields; ++i) {
        order->push_back(id);
        co_await yield_now();
    }
}

// The order in which 10 tasks × 3 yields ran on a loop with `seed`.
std::vector<int> interleaving(std::uint64_t seed) {
    std::vector<int> order;
    run_test([](std::vector<int>* out, std::uint64_t s) -> Task<void> {
        Loop::current()->set_schedule_seed(s);
        CHECK(Loop::current()->schedule_seed() == s);
        std::vector<TaskHandle<void>> handles;
        for (int id = 0; id < tasks; ++id) {
            handles.push_back(spawn(yielder(out, id)));
        }
        for (auto& handle : handles) {
            co_await handle;
        }
    }(&order, seed));
    return order;
}

std::vector<int> fifo_order() {
    std::vector<int> order;
    for (int i = 0; i < yields; ++i) {
        for (int id = 0; id < tasks; ++id) {
            order.push_back(id);
        }
    }
    return order;
}

Task<void> spinner(const bool* stop, int* steps) {
    while (!*stop) {
        ++*steps;
        co_await yield_now();
    }
}

Task<void> worker(int rounds, int* done) {
    for (int i = 0; i < rounds; ++i) {
        co_await yield_now();
    }
    ++*done;
}

}  // namespace

TEST_SUITE("loop") {
    TEST_CASE("the same schedule seed gives the same interleaving") {
        for (std::uint64_t seed : {1ULL, 2ULL, 12345ULL, 0xdeadbeefULL}) {
            CAPTURE(seed);
            const std::vector<int> first = interleaving(seed);
            CHECK(first.size() == static_cast<std::size_t>(tasks * yields));
            CHECK(interleaving(seed) == first);
        }
    }

    TEST_CASE("different schedule seeds give different interleavings, each a shuffle of a round") {
        const std::vector<int> reference = interleaving(1);
        int differ = 0;
        int not_fifo = 0;
        for (std::uint64_t seed = 2; seed <= 8; ++seed) {
            const std::vector<int> order = interleaving(seed);
            differ += order != reference ? 1 : 0;
            not_fifo += order != fifo_order() ? 1 : 0;
            // Round r (tasks × 1 step each) holds every task once: a shuffle, never a starving.
            for (int round = 0; round < yields; ++round) {
                std::vector<int> ids(order.begin() + round * tasks,
                                     order.begin() + (round + 1) * tasks);
                std::sort(ids.begin(), ids.end());
                std::vector<int> all(tasks);
                for (int id = 0; id < tasks; ++id) {
                    all[static_cast<std::size_t>(id)] = id;
                }
                CHECK(ids == all);
            }
        }
        CHECK(differ > 0);
        CHECK(not_fifo > 0);
    }

    TEST_CASE("schedule seed 0 is FIFO, today's order") { CHECK(interleaving(0) == fifo_order()); }

    TEST_CASE("under a schedule seed a task yielding in a loop cannot starve the others") {
        for (std::uint64_t seed : {3ULL, 99ULL, 4242ULL}) {
            CAPTURE(seed);
            bool stop = false;
            int steps = 0;
            int done = 0;
            run_test([](std::uint64_t s, bool* stop_, int* steps_, int* done_) -> Task<void> {
                Loop::current()->set_schedule_seed(s);
                TaskHandle<void> spin = spawn(spinner(stop_, steps_));
                std::vector<TaskHandle<void>> workers;
                for (int i = 0; i < 3; ++i) {
                    workers.push_back(spawn(worker(50, done_)));
                }
                for (auto& w : workers) {
                    co_await w;
                }
                *stop_ = true;
                co_await spin;
            }(seed, &stop, &steps, &done));
            CHECK(done == 3);
            // Every round runs each ready task once: the spinner ran about once per worker step.
            CHECK(steps <= 53);
        }
    }

    TEST_CASE("under a schedule seed a yield still goes behind every task ready when it yielded") {
        for (std::uint64_t seed = 1; seed <= 20; ++seed) {
            CAPTURE(seed);
            run_test([](std::uint64_t s) -> Task<void> {
                Loop::current()->set_schedule_seed(s);
                int started = 0;
                std::vector<TaskHandle<void>> handles;
                for (int i = 0; i < 5; ++i) {
                    handles.push_back(spawn([](int* n) -> Task<void> {
                        ++*n;
                        co_await yield_now();
                    }(&started)));
                }
                co_await yield_now();
                CHECK(started == 5);  // the spawned tasks were ready when it yielded
                for (auto& handle : handles) {
                    co_await handle;
                }
            }(seed));
        }
    }

    TEST_CASE("a failure names its schedule seed so that it can be replayed") {
        CHECK(schedule_seed_note(42) == "schedule seed 42 (replay: UVTASK_SCHEDULE_SEED=42)");
        CHECK(uvtask::testing::schedule_note(7) ==
              "schedule seed 7 (replay: UVTASK_SCHEDULE_SEED=7)");
        CHECK(uvtask::testing::schedule_note(0) == "schedule: FIFO");
    }

    TEST_CASE(
        "run() with RunOptions::schedule_seed reports the seed when main ends with an "
        "exception, and not when it returns") {
        std::vector<ExceptionContext> reports;
        RunOptions options;
        options.schedule_seed = 77;
        options.exception_handler = [&reports](const ExceptionContext& c) { reports.push_back(c); };
        CHECK_THROWS_AS(run(
                            []() -> Task<void> {
                                co_await yield_now();
                                throw std::runtime_error("boom");
                            }(),
                            options),
                        std::runtime_error);
        REQUIRE(reports.size() == 1);
        CHECK(reports[0].message == "schedule seed 77 (replay: UVTASK_SCHEDULE_SEED=77)");
        CHECK(reports[0].task_name == "main");
        reports.clear();
        run([]() -> Task<void> { co_await yield_now(); }(), options);
        CHECK(reports.empty());
    }
}
