// Event: set() wakes every waiter in order; cancel-safe waits.
#include <uvtask/event.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::assume_fifo_schedule;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

Task<void> waiter(Event* event, int id, std::vector<int>* order) {
    co_await event->wait();
    order->push_back(id);
}

Task<void> wait_on(Event* event) { co_await event->wait(); }

}  // namespace

TEST_SUITE("event") {
    TEST_CASE("set wakes every waiter, in the order they started waiting") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            Event event;
            std::vector<int> order;
            std::vector<TaskHandle<void>> tasks;
            for (int i = 0; i < 5; ++i) {
                tasks.push_back(spawn(waiter(&event, i, &order)));
            }
            co_await sleep(1ms);
            CHECK(event.waiters() == 5);
            CHECK(order.empty());
            event.set();
            CHECK(event.is_set());
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
        }());
    }

    TEST_CASE("wait returns at once when set, but a pending cancel is still thrown") {
        run_test([]() -> Task<void> {
            Event event;
            event.set();
            co_await event.wait();  // does not block
            Event first;
            auto body = [](Event* first, Event* set_one) -> Task<bool> {
                co_await first->wait();  // completes, and a cancel arrives before we run
                try {
                    co_await set_one->wait();  // set, yet the pending cancel is thrown
                } catch (const CancelledError&) {
                    co_return true;
                }
                co_return false;
            };
            TaskHandle<bool> task = spawn(body(&first, &event));
            co_await sleep(1ms);
            first.set();
            task.cancel("pending");
            const bool thrown_by_set_event = co_await task;
            CHECK(thrown_by_set_event);
            // clear() makes later waits block again.
            event.clear();
            CHECK_FALSE(event.is_set());
            Ended<void> timed = co_await outcome_of(with_timeout(2ms, wait_on(&event)));
            CHECK(timed.threw<TimeoutError>());
        }());
    }

    TEST_CASE("a waiter cancelled while waiting is unlinked; the others are still woken") {
        run_test([]() -> Task<void> {
            Event event;
            std::vector<int> order;
            TaskHandle<void> a = spawn(waiter(&event, 1, &order));
            TaskHandle<void> b = spawn(waiter(&event, 2, &order));
            TaskHandle<void> c = spawn(waiter(&event, 3, &order));
            co_await sleep(1ms);
            b.cancel();
            CHECK(event.waiters() == 2);
            event.set();
            co_await a;
            co_await c;
            Ended<void> out = co_await settled(b);
            CHECK(out.threw<CancelledError>());
            std::sort(order.begin(), order.end());  // woken together: any order (a seed shuffles)
            CHECK(order == std::vector<int>{1, 3});
        }());
    }

    TEST_CASE("a waiter woken by set and cancelled in the same tick returns; the cancel comes next") {
        run_test([]() -> Task<void> {
            Event event;
            auto body = [](Event* e) -> Task<bool> {
                co_await e->wait();  // completes: atomic completion
                const bool pending = this_task::cancel_requested();
                co_await yield_now();  // the cancel is delivered here
                co_return pending;
            };
            TaskHandle<bool> task = spawn(body(&event));
            co_await sleep(1ms);
            event.set();
            task.cancel("after set");
            Ended<bool> out = co_await settled(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "after set");
        }());
    }

    TEST_CASE("destroying an Event with waiters wakes them with InvalidStateError") {
        run_test([]() -> Task<void> {
            std::optional<Event> event(std::in_place);
            TaskHandle<void> task = spawn(wait_on(&*event));
            co_await sleep(1ms);
            event.reset();
            Ended<void> out = co_await settled(task);
            CHECK(out.threw<InvalidStateError>());
        }());
    }
}
