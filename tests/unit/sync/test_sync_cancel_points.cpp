// Every synchronisation primitive cancelled at each of its suspension points
// (`testing::cancel_at_every_point`): after every run the primitive is consistent — no lock
// held, every permit back, no waiter left linked, no queue item lost or duplicated.
#include <doctest/doctest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "cancel_points.hpp"

using namespace uvtask;
using uvtask::testing::CancelPointRun;
using uvtask::testing::cover_every_point;
using uvtask::testing::RootEnd;

namespace {

// Counts a task inside a section while it lives (also when a cancel unwinds it).
struct Inside {
    int* count;
    explicit Inside(int* n, int* max) noexcept : count(n) { *max = std::max(*max, ++*count); }
    Inside(const Inside&) = delete;
    Inside& operator=(const Inside&) = delete;
    ~Inside() { --*count; }
};

// The tasks of a scenario, spawned into a group the root joins (the cancel reaches them).
template <class Make>
Task<void> in_group(int count, Make make) {
    auto body = [count, make](TaskGroup& group) -> Task<void> {
        for (int i = 0; i < count; ++i) {
            group.spawn(make(i));
        }
        co_return;
    };
    co_await task_group(body);
}

struct EventState {
    Event event;
    int woken = 0;
};

Task<void> event_waiter(EventState* s) {
    co_await s->event.wait();
    CHECK(s->event.is_set());
    ++s->woken;
}

Task<void> event_setter(EventState* s) {
    co_await yield_now();
    s->event.set();
}

struct LockState {
    Lock lock;
    int holders = 0;
    int max_holders = 0;
    int done = 0;
};

Task<void> lock_worker(LockState* s) {
    LockGuard guard = co_await s->lock.scoped();
    const Inside inside(&s->holders, &s->max_holders);
    co_await yield_now();
    ++s->done;
}

struct SemaphoreState {
    Semaphore semaphore{2};
    int inside = 0;
    int max_inside = 0;
};

Task<void> semaphore_worker(SemaphoreState* s) {
    SemaphoreGuard guard = co_await s->semaphore.scoped();
    const Inside inside(&s->inside, &s->max_inside);
    co_await yield_now();
}

struct ConditionState {
    Lock lock;
    Condition ready{lock};
    std::deque<int> items;
    std::vector<int> consumed;
    int produced = 0;
};

Task<void> consumer(ConditionState* s) {
    LockGuard guard = co_await s->lock.scoped();
    co_await s->ready.wait_for([s] { return !s->items.empty(); });
    s->consumed.push_back(s->items.front());
    s->items.pop_front();
}

Task<void> producer(ConditionState* s, int item) {
    co_await yield_now();
    LockGuard guard = co_await s->lock.scoped();
    s->items.push_back(item);
    ++s->produced;
    s->ready.notify();
}

struct QueueState {
    Queue<int> queue{1};
    std::vector<int> pushed;  // pushes that returned: the item is in
    std::vector<int> popped;  // pops that returned
};

Task<void> queue_producer(QueueState* s) {
    for (int item = 1; item <= 4; ++item) {
        co_await s->queue.push(item);
        s->pushed.push_back(item);
    }
}

Task<void> queue_consumer(QueueState* s) {
    for (int i = 0; i < 4; ++i) {
        s->popped.push_back(co_await s->queue.pop());
        co_await yield_now();
    }
}

}  // namespace

TEST_SUITE("sync_cancel_points") {
    TEST_CASE("Event cancelled at every point: no waiter left linked, a woken waiter saw it set") {
        std::unique_ptr<EventState> state;
        cover_every_point(
            "Event",
            [&state] {
                state = std::make_unique<EventState>();
                return in_group(4, [s = state.get()](int i) {
                    return i == 3 ? event_setter(s) : event_waiter(s);
                });
            },
            [&state](const CancelPointRun& run) {
                CHECK(state->event.waiters() == 0);
                if (run.end == RootEnd::completed) {
                    CHECK(state->woken == 3);
                }
            });
    }

    TEST_CASE("Lock cancelled at every point: never held twice, not held afterwards") {
        std::unique_ptr<LockState> state;
        cover_every_point(
            "Lock",
            [&state] {
                state = std::make_unique<LockState>();
                return in_group(3, [s = state.get()](int) { return lock_worker(s); });
            },
            [&state](const CancelPointRun& run) {
                CHECK_FALSE(state->lock.locked());
                CHECK(state->lock.waiters() == 0);
                CHECK(state->max_holders <= 1);
                CHECK(state->holders == 0);
                if (run.end == RootEnd::completed) {
                    CHECK(state->done == 3);
                }
            });
    }

    TEST_CASE("Semaphore cancelled at every point: at most 2 inside, every permit back") {
        std::unique_ptr<SemaphoreState> state;
        cover_every_point(
            "Semaphore",
            [&state] {
                state = std::make_unique<SemaphoreState>();
                return in_group(4, [s = state.get()](int) { return semaphore_worker(s); });
            },
            [&state](const CancelPointRun&) {
                CHECK(state->semaphore.value() == 2);
                CHECK(state->semaphore.waiters() == 0);
                CHECK(state->max_inside <= 2);
                CHECK(state->inside == 0);
            });
    }

    TEST_CASE(
        "Condition cancelled at every point: the lock free, no waiter left, every item "
        "consumed once or still queued") {
        std::unique_ptr<ConditionState> state;
        cover_every_point(
            "Condition",
            [&state] {
                state = std::make_unique<ConditionState>();
                return in_group(
                    4, [s = state.get()](int i) { return i < 2 ? consumer(s) : producer(s, i); });
            },
            [&state](const CancelPointRun& run) {
                CHECK_FALSE(state->lock.locked());
                CHECK(state->lock.waiters() == 0);
                CHECK(state->ready.waiters() == 0);
                CHECK(state->consumed.size() + state->items.size() ==
                      static_cast<std::size_t>(state->produced));
                if (run.end == RootEnd::completed) {
                    CHECK(state->consumed.size() == 2);
                }
            });
    }

    TEST_CASE("Queue cancelled at every point: no item lost or duplicated") {
        std::unique_ptr<QueueState> state;
        cover_every_point(
            "Queue",
            [&state] {
                state = std::make_unique<QueueState>();
                return in_group(2, [s = state.get()](int i) {
                    return i == 0 ? queue_producer(s) : queue_consumer(s);
                });
            },
            [&state](const CancelPointRun& run) {
                QueueState& s = *state;
                CHECK(s.queue.waiting_pops() == 0);
                CHECK(s.queue.waiting_pushes() == 0);
                // What the pushes put in came out of the pops, in order, or is still queued.
                std::vector<int> out = s.popped;
                while (!s.queue.empty()) {
                    out.push_back(*s.queue.try_pop());
                }
                CHECK(out == s.pushed);
                if (run.end == RootEnd::completed) {
                    CHECK(s.popped == std::vector<int>{1, 2, 3, 4});
                }
            });
    }
}
