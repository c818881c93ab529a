// Queue<T>: FIFO, bounded, fair, cancel-safe (no item lost or duplicated), closable.
#include <uvtask/queue.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
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

Task<int> pop_one(Queue<int>* queue) {
    const int item = co_await queue->pop();
    co_return item;
}

Task<void> push_one(Queue<int>* queue, int item) { co_await queue->push(item); }

/// Pops until the queue is closed; returns every item.
Task<std::vector<int>> drain(Queue<int>* queue) {
    std::vector<int> items;
    for (;;) {
        Ended<int> out = co_await outcome_of(pop_one(queue));
        if (out.threw<QueueClosedError>()) {
            break;
        }
        REQUIRE(out.ok());
        items.push_back(*out.value);
    }
    co_return items;
}

}  // namespace

TEST_SUITE("queue") {
    TEST_CASE("items come out in FIFO order, and waiting pops are served in order") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            Queue<int> queue;
            for (int i = 0; i < 3; ++i) {
                co_await queue.push(i);
            }
            CHECK(queue.size() == 3);
            for (int i = 0; i < 3; ++i) {
                const int item = co_await queue.pop();
                CHECK(item == i);
            }
            // Three pops wait; items go to them in the order they started waiting.
            std::vector<TaskHandle<int>> pops;
            for (int i = 0; i < 3; ++i) {
                pops.push_back(spawn(pop_one(&queue)));
            }
            co_await yield_now();
            CHECK(queue.waiting_pops() == 3);
            for (int i = 10; i < 13; ++i) {
                CHECK(queue.try_push(i));
            }
            for (int i = 0; i < 3; ++i) {
                const int item = co_await pops[static_cast<std::size_t>(i)];
                CHECK(item == 10 + i);
            }
        }());
    }

    TEST_CASE("a full queue makes push wait; freed room goes to the first waiting push") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            Queue<int> queue(2);
            CHECK(queue.try_push(1));
            CHECK(queue.try_push(2));
            CHECK(queue.full());
            int kept = 3;
            CHECK_FALSE(queue.try_push(std::move(kept)));
            CHECK(kept == 3);  // untouched when refused
            TaskHandle<void> a = spawn(push_one(&queue, 3));
            TaskHandle<void> b = spawn(push_one(&queue, 4));
            co_await yield_now();
            CHECK(queue.waiting_pushes() == 2);
            const int first = co_await queue.pop();
            CHECK(first == 1);
            CHECK(queue.size() == 2);  // refilled at once from the first waiting push
            CHECK_FALSE(queue.try_push(99));  // no barging into the freed slot
            co_await a;
            std::vector<int> rest;
            for (int i = 0; i < 3; ++i) {
                const int item = co_await queue.pop();
                rest.push_back(item);
            }
            co_await b;
            CHECK(rest == std::vector<int>{2, 3, 4});
        }());
    }

    TEST_CASE("a pop cancelled while waiting is unlinked and takes nothing") {
        run_test([]() -> Task<void> {
            Queue<int> queue;
            TaskHandle<int> a = spawn(pop_one(&queue));
            TaskHandle<int> b = spawn(pop_one(&queue));
            co_await yield_now();
            a.cancel();
            CHECK(queue.waiting_pops() == 1);
            CHECK(queue.try_push(7));
            const int got = co_await b;
            CHECK(got == 7);
            Ended<int> out = co_await settled(a);
            CHECK(out.threw<CancelledError>());
            CHECK(queue.empty());
        }());
    }

    TEST_CASE("a pop handed an item, then cancelled in the same tick, returns the item") {
        run_test([]() -> Task<void> {
            Queue<int> queue;
            auto consumer = [](Queue<int>* q, std::vector<int>* got) -> Task<void> {
                const int item = co_await q->pop();
                got->push_back(item);  // recorded: the item is ours
                co_await yield_now();  // the cancel is delivered here
                got->push_back(-1);    // not reached
            };
            std::vector<int> got;
            TaskHandle<void> c = spawn(consumer(&queue, &got));
            co_await yield_now();
            CHECK(queue.try_push(5));  // handed straight to the waiting pop…
            c.cancel("late");          // …which is cancelled before it runs
            Ended<void> out = co_await settled(c);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "late");
            CHECK(got == std::vector<int>{5});  // not lost
            CHECK(queue.empty());               // not duplicated
        }());
    }

    TEST_CASE("a push whose item was taken, then cancelled in the same tick, returns normally") {
        run_test([]() -> Task<void> {
            Queue<int> queue(1);
            CHECK(queue.try_push(1));
            auto producer = [](Queue<int>* q, bool* returned) -> Task<void> {
                co_await q->push(2);
                *returned = true;
                co_await yield_now();
            };
            bool returned = false;
            TaskHandle<void> p = spawn(producer(&queue, &returned));
            co_await yield_now();
            const int first = co_await queue.pop();  // moves 2 into the queue, wakes p…
            p.cancel();                               // …cancelled before it runs
            Ended<void> out = co_await settled(p);
            CHECK(out.threw<CancelledError>());
            CHECK(returned);
            CHECK(first == 1);
            CHECK(queue.size() == 1);
            std::optional<int> second = queue.try_pop();
            CHECK(second == 2);
        }());
    }

    TEST_CASE("a push cancelled while waiting adds nothing") {
        run_test([]() -> Task<void> {
            Queue<int> queue(1);
            CHECK(queue.try_push(1));
            TaskHandle<void> p = spawn(push_one(&queue, 2));
            co_await yield_now();
            p.cancel();
            Ended<void> out = co_await settled(p);
            CHECK(out.threw<CancelledError>());
            CHECK(queue.size() == 1);
            CHECK(queue.try_pop() == 1);
            CHECK_FALSE(queue.try_pop().has_value());
        }());
    }

    TEST_CASE("close: consumers drain what is left, then end with QueueClosedError") {
        run_test([]() -> Task<void> {
            Queue<int> queue(1);
            TaskHandle<std::vector<int>> consumer = spawn(drain(&queue));
            for (int i = 0; i < 4; ++i) {
                co_await queue.push(i);
            }
            queue.close();
            CHECK(queue.closed());
            std::vector<int> items = co_await consumer;
            CHECK(items == std::vector<int>{0, 1, 2, 3});
            Ended<void> push = co_await outcome_of(push_one(&queue, 9));
            CHECK(push.threw<QueueClosedError>());
            CHECK_THROWS_AS((void)queue.try_push(9), QueueClosedError);
            CHECK_THROWS_AS((void)queue.try_pop(), QueueClosedError);
        }());
    }

    TEST_CASE("close wakes waiting pops and pushes with QueueClosedError") {
        run_test([]() -> Task<void> {
            Queue<int> empty;
            TaskHandle<int> pop = spawn(pop_one(&empty));
            Queue<int> full(1);
            CHECK(full.try_push(1));
            TaskHandle<void> push = spawn(push_one(&full, 2));
            co_await yield_now();
            empty.close();
            full.close();
            Ended<int> popped = co_await settled(pop);
            CHECK(popped.threw<QueueClosedError>());
            Ended<void> pushed = co_await settled(push);
            CHECK(pushed.threw<QueueClosedError>());
            CHECK(full.size() == 1);  // the waiting push added nothing
            CHECK(full.try_pop() == 1);
        }());
    }

    TEST_CASE("a rendezvous queue completes a push only when a pop takes the item") {
        run_test([]() -> Task<void> {
            Queue<std::string> queue(0);
            std::string item = "hello";
            CHECK_FALSE(queue.try_push(std::move(item)));
            CHECK(item == "hello");
            auto producer = [](Queue<std::string>* q) -> Task<void> {
                co_await q->push("hi");
            };
            TaskHandle<void> p = spawn(producer(&queue));
            co_await yield_now();
            CHECK_FALSE(p.done());
            CHECK(queue.waiting_pushes() == 1);
            const std::string got = co_await queue.pop();
            CHECK(got == "hi");
            co_await p;
        }());
    }

    TEST_CASE("a pending cancel is thrown at once by pop and push, without side effect") {
        run_test([]() -> Task<void> {
            Queue<int> queue;
            CHECK(queue.try_push(1));
            Event go;
            auto body = [](Event* go, Queue<int>* q, int* steps) -> Task<void> {
                co_await go->wait();
                try {
                    [[maybe_unused]] const int item = co_await q->pop();
                    ++*steps;
                } catch (const CancelledError&) {
                }
                co_await go->wait();  // no cancel pending now: returns (set)
                ++*steps;
            };
            int steps = 0;
            TaskHandle<void> task = spawn(body(&go, &queue, &steps));
            co_await yield_now();
            go.set();
            task.cancel();
            co_await task;
            CHECK(steps == 1);         // the pop threw
            CHECK(queue.size() == 1);  // and took nothing
        }());
    }

    TEST_CASE("move-only items, and destroying a queue with waiters") {
        run_test([]() -> Task<void> {
            Queue<std::unique_ptr<int>> queue(1);
            co_await queue.push(std::make_unique<int>(4));
            std::unique_ptr<int> item = co_await queue.pop();
            CHECK(*item == 4);
            std::optional<Queue<int>> doomed(std::in_place);
            TaskHandle<int> waiting = spawn(pop_one(&*doomed));
            co_await yield_now();
            doomed.reset();
            Ended<int> out = co_await settled(waiting);
            CHECK(out.threw<InvalidStateError>());
        }());
    }

    TEST_CASE("destroying a queue with a waiting push wakes it with InvalidStateError") {
        run_test([]() -> Task<void> {
            std::optional<Queue<int>> doomed(std::in_place, 1);
            CHECK(doomed->try_push(1));
            TaskHandle<void> waiting = spawn(push_one(&*doomed, 2));
            co_await yield_now();
            CHECK(doomed->waiting_pushes() == 1);
            doomed.reset();
            Ended<void> out = co_await settled(waiting);
            CHECK(out.threw<InvalidStateError>());
        }());
    }
}
