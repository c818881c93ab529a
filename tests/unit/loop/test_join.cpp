// Joins (`co_await handle`, `shield`, wait_for's owned join): passing a cancel on along chains
// and cycles of joins, and results of every alignment.
#include <uvtask/uvtask.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

Task<void> sleep_forever() { co_await sleep(10s); }

Task<void> sleep_then(std::chrono::milliseconds delay) { co_await sleep(delay); }

Task<void> awaits(TaskHandle<void> next) { co_await next; }

Task<void> awaits_slot(TaskHandle<void>* next) { co_await *next; }

struct alignas(64) Wide {
    std::uint64_t value = 0;
};

Task<Wide> wide(std::uint64_t value) {
    co_await yield_now();
    co_return Wide{value};
}

}  // namespace

TEST_SUITE("join") {
    TEST_CASE("a cancel passes along a chain of 50000 tasks each awaiting the next, without "
              "recursing once per task") {
        run_test(
            []() -> Task<void> {
                constexpr int length = 50'000;
                std::vector<TaskHandle<void>> chain;
                chain.reserve(length);
                chain.push_back(spawn(sleep_forever(), "end"));
                for (int i = 1; i < length; ++i) {
                    chain.push_back(spawn(awaits(chain.back())));
                }
                co_await sleep(1ms);  // every link has started and waits for the next
                CHECK(chain.back().cancel("from the head"));
                Ended<void> head = co_await settled(chain.back());
                REQUIRE(head.threw<CancelledError>());
                CHECK(head.as<CancelledError>()->message() == "from the head");
                for (const TaskHandle<void>& link : chain) {
                    CHECK(link.cancelled());
                }
                CHECK(chain.front().cancelling() == 1);  // passed on once, to each link
            }(),
            {.watchdog = std::chrono::milliseconds(60'000)});
    }

    TEST_CASE("a cancel of one task in a cycle of three joins ends all three, passed round once") {
        run_test([]() -> Task<void> {
            TaskHandle<void> a;
            TaskHandle<void> b;
            TaskHandle<void> c;
            a = spawn(awaits_slot(&b), "a");
            b = spawn(awaits_slot(&c), "b");
            c = spawn(awaits_slot(&a), "c");
            co_await sleep(1ms);
            CHECK(b.cancel("break"));
            Ended<void> out = co_await settled(a);
            CHECK(out.threw<CancelledError>());
            co_await sleep(1ms);
            CHECK(a.done());
            CHECK(b.done());
            CHECK(c.done());
            CHECK(a.cancelling() == 1);
            CHECK(c.cancelling() == 1);
        }());
    }

    TEST_CASE("a cycle through a task group (a awaits b, b's group child awaits a) ends on one "
              "cancel") {
        run_test([]() -> Task<void> {
            TaskHandle<void> a;
            auto body = [](TaskGroup& group, TaskHandle<void>* a) -> Task<void> {
                group.spawn(awaits_slot(a), "child");
                co_return;
            };
            auto grouped = [](TaskHandle<void>* a, decltype(body) body) -> Task<void> {
                co_await task_group(body, a);
            };
            TaskHandle<void> b = spawn(grouped(&a, body), "b");
            a = spawn(awaits(b), "a");
            co_await sleep(1ms);
            CHECK(a.cancel("break"));
            Ended<void> out = co_await settled(b);
            CHECK(out.threw<CancelledError>());
            co_await sleep(1ms);
            CHECK(a.done());
        }());
    }

    TEST_CASE("a cancel arriving while the awaited task holds cancellation back is passed on "
              "and delivered once it lets go") {
        run_test([]() -> Task<void> {
            auto held = []() -> Task<int> {
                co_await non_cancellable(sleep_then(2ms));
                co_await sleep(10s);  // the held request is delivered here
                co_return 1;
            };
            TaskHandle<int> inner = spawn(held());
            auto outer = [](TaskHandle<int> inner) -> Task<int> {
                int value = co_await inner;
                co_return value;
            };
            TaskHandle<int> waiter = spawn(outer(inner));
            co_await sleep(1ms);
            waiter.cancel("stop");
            Ended<int> out = co_await settled(waiter);
            CHECK(out.threw<CancelledError>());
            CHECK(inner.cancelled());
        }());
    }

    TEST_CASE("a task's over-aligned result is stored aligned and joined intact") {
        run_test([]() -> Task<void> {
            std::vector<TaskHandle<Wide>> handles;
            for (std::uint64_t i = 0; i < 16; ++i) {
                handles.push_back(spawn(wide(i)));  // sixteen states: any misalignment shows
            }
            for (std::uint64_t i = 0; i < 16; ++i) {
                Wide got = co_await handles[i];
                CHECK(got.value == i);
                const Wide& stored = handles[i].result();
                CHECK(reinterpret_cast<std::uintptr_t>(&stored) % alignof(Wide) == 0);
            }
        }());
    }
}
