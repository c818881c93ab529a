// Condition: wait releases and re-acquires the lock; FIFO notifications; cancel-safe waits.
#include <uvtask/condition.hpp>

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

struct State {
    Condition condition;
    int ready = 0;
    std::vector<int> woken;
    bool held_after_wait = true;
};

/// Waits once for a notification; records its id and whether it held the lock afterwards.
Task<void> wait_once(State* state, int id) {
    LockGuard guard = co_await state->condition.scoped();
    co_await state->condition.wait();
    state->held_after_wait = state->held_after_wait && state->condition.get_lock().locked();
    state->woken.push_back(id);
}

/// Waits; on CancelledError records whether the lock was held again, and rethrows.
Task<void> wait_recording_cancel(State* state, bool* held_on_cancel) {
    LockGuard guard = co_await state->condition.scoped();
    try {
        co_await state->condition.wait();
    } catch (const CancelledError&) {
        *held_on_cancel = state->condition.get_lock().locked();
        throw;
    }
}

/// Waits on `condition` (using `lock`); on CancelledError records whether the lock was held again.
Task<void> wait_on(Condition* condition, Lock* lock, bool* held_on_cancel) {
    LockGuard guard = co_await lock->scoped();
    try {
        co_await condition->wait();
    } catch (const CancelledError&) {
        *held_on_cancel = lock->locked();
        throw;
    }
}

/// Locks `lock` (never unlocked: the test destroys it) and waits on `condition`.
Task<void> wait_without_guard(Condition* condition, Lock* lock) {
    co_await lock->lock();
    co_await condition->wait();
}

Task<void> notify(State* state, std::size_t n) {
    LockGuard guard = co_await state->condition.scoped();
    state->condition.notify(n);
}

}  // namespace

TEST_SUITE("condition") {
    TEST_CASE("wait releases the lock and holds it again when it returns") {
        run_test([]() -> Task<void> {
            State state;
            TaskHandle<void> w = spawn(wait_once(&state, 1));
            co_await yield_now();
            CHECK_FALSE(state.condition.get_lock().locked());  // released while waiting
            CHECK(state.condition.waiters() == 1);
            co_await notify(&state, 1);
            co_await w;
            CHECK(state.woken == std::vector<int>{1});
            CHECK(state.held_after_wait);
            CHECK_FALSE(state.condition.get_lock().locked());  // the guard released it
        }());
    }

    TEST_CASE("notify wakes waiters in FIFO order; notify_all wakes them all") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            State state;
            std::vector<TaskHandle<void>> tasks;
            for (int i = 0; i < 4; ++i) {
                tasks.push_back(spawn(wait_once(&state, i)));
            }
            co_await yield_now();
            co_await notify(&state, 2);
            co_await sleep(1ms);
            CHECK(state.woken == std::vector<int>{0, 1});
            {
                LockGuard guard = co_await state.condition.scoped();
                state.condition.notify_all();
            }
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(state.woken == std::vector<int>{0, 1, 2, 3});
            CHECK(state.held_after_wait);
        }());
    }

    TEST_CASE("a waiter cancelled before a notification re-acquires the lock and throws") {
        run_test([]() -> Task<void> {
            State state;
            bool held_on_cancel = false;
            LockGuard mine = co_await state.condition.scoped();
            // The waiter gets the lock after us, then waits (releasing it to nobody).
            TaskHandle<void> w = spawn(wait_recording_cancel(&state, &held_on_cancel));
            mine.unlock();
            co_await sleep(1ms);
            CHECK(state.condition.waiters() == 1);
            // Hold the lock while cancelling: the waiter must wait for it before it throws.
            LockGuard again = co_await state.condition.scoped();
            w.cancel("stop");
            CHECK(state.condition.waiters() == 0);
            co_await sleep(1ms);
            CHECK_FALSE(w.done());  // queued for the lock we hold
            again.unlock();
            Ended<void> out = co_await settled(w);
            REQUIRE(out.threw<CancelledError>());
            CHECK(held_on_cancel);
            CHECK_FALSE(state.condition.get_lock().locked());
        }());
    }

    TEST_CASE("a notified waiter cancelled before it runs passes the notification on") {
        run_test([]() -> Task<void> {
            State state;
            bool held_on_cancel = false;
            TaskHandle<void> first = spawn(wait_recording_cancel(&state, &held_on_cancel));
            TaskHandle<void> second = spawn(wait_once(&state, 2));
            co_await yield_now();
            CHECK(state.condition.waiters() == 2);
            {
                LockGuard guard = co_await state.condition.scoped();
                state.condition.notify(1);  // chooses `first`…
                first.cancel();             // …which is cancelled before it runs
            }
            Ended<void> out = co_await settled(first);
            CHECK(out.threw<CancelledError>());
            CHECK(held_on_cancel);
            co_await second;  // the notification was not lost
            CHECK(state.woken == std::vector<int>{2});
        }());
    }

    TEST_CASE("a notified waiter handed the lock and cancelled in the same tick passes it on") {
        run_test([]() -> Task<void> {
            State state;
            bool held_on_cancel = false;
            TaskHandle<void> first = spawn(wait_recording_cancel(&state, &held_on_cancel));
            TaskHandle<void> second = spawn(wait_once(&state, 2));
            co_await yield_now();
            {
                LockGuard guard = co_await state.condition.scoped();
                state.condition.notify(1);
            }  // the lock is handed to `first` here…
            first.cancel();  // …and it is cancelled before it runs
            Ended<void> out = co_await settled(first);
            CHECK(out.threw<CancelledError>());
            CHECK(held_on_cancel);
            co_await second;
            CHECK(state.woken == std::vector<int>{2});
        }());
    }

    TEST_CASE("wait_for waits until the predicate holds") {
        run_test([]() -> Task<void> {
            State state;
            auto consumer = [](State* s) -> Task<int> {
                LockGuard guard = co_await s->condition.scoped();
                auto ready = [s] { return s->ready >= 3; };
                co_await s->condition.wait_for(ready);
                co_return s->ready;
            };
            TaskHandle<int> c = spawn(consumer(&state));
            for (int i = 0; i < 3; ++i) {
                co_await yield_now();
                LockGuard guard = co_await state.condition.scoped();
                ++state.ready;
                state.condition.notify_all();
            }
            const int seen = co_await c;
            CHECK(seen == 3);
        }());
    }

    TEST_CASE("wait or notify without holding the lock is an InvalidStateError") {
        run_test([]() -> Task<void> {
            Lock lock;
            Condition condition(lock);
            CHECK_THROWS_AS(condition.notify(), InvalidStateError);
            auto wait_unlocked = [](Condition* c) -> Task<void> { co_await c->wait(); };
            Ended<void> out = co_await outcome_of(wait_unlocked(&condition));
            CHECK(out.threw<InvalidStateError>());
            CHECK(&condition.get_lock() == &lock);
        }());
    }

    TEST_CASE("destroying a Condition with waiters: they re-acquire the lock and throw") {
        run_test([]() -> Task<void> {
            Lock lock;
            std::optional<Condition> condition(std::in_place, lock);
            auto waits = [](Condition* c, Lock* l, bool* held) -> Task<void> {
                LockGuard guard = co_await l->scoped();
                try {
                    co_await c->wait();
                } catch (const InvalidStateError&) {
                    *held = l->locked();
                    throw;
                }
            };
            bool held = false;
            TaskHandle<void> w = spawn(waits(&*condition, &lock, &held));
            co_await yield_now();
            condition.reset();
            Ended<void> out = co_await settled(w);
            CHECK(out.threw<InvalidStateError>());
            CHECK(held);
            CHECK_FALSE(lock.locked());
        }());
    }

    // The Condition is on the heap so that AddressSanitizer sees a use after its destruction.
    TEST_CASE(
        "a notified waiter cancelled after the Condition was destroyed throws with the lock") {
        run_test([]() -> Task<void> {
            Lock lock;
            auto condition = std::make_unique<Condition>(lock);
            bool held_on_cancel = false;
            TaskHandle<void> w = spawn(wait_on(condition.get(), &lock, &held_on_cancel));
            co_await yield_now();
            {
                LockGuard guard = co_await lock.scoped();
                condition->notify(1);  // `w` now waits for the lock we hold…
                condition.reset();     // …its Condition goes…
                w.cancel("late");      // …and it is cancelled: no notification to pass on
            }
            Ended<void> out = co_await settled(w);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "late");
            CHECK(held_on_cancel);
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("a waiter handed the lock, then its Condition destroyed and it cancelled, throws") {
        run_test([]() -> Task<void> {
            Lock lock;
            auto condition = std::make_unique<Condition>(lock);
            bool held_on_cancel = false;
            TaskHandle<void> w = spawn(wait_on(condition.get(), &lock, &held_on_cancel));
            co_await yield_now();
            {
                LockGuard guard = co_await lock.scoped();
                condition->notify(1);
            }  // the lock is handed to `w` here; it has not run yet
            condition.reset();
            w.cancel("late");
            Ended<void> out = co_await settled(w);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "late");
            CHECK(held_on_cancel);
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("a notified waiter whose Lock is destroyed while it waits for it throws") {
        run_test([]() -> Task<void> {
            std::optional<Lock> lock(std::in_place);
            Condition condition(*lock);
            TaskHandle<void> w = spawn(wait_without_guard(&condition, &*lock));
            co_await yield_now();
            co_await lock->lock();
            condition.notify(1);  // `w` now waits for the lock we hold…
            CHECK(lock->waiters() == 1);
            lock.reset();  // …which goes
            Ended<void> out = co_await settled(w);
            REQUIRE(out.threw<InvalidStateError>());
            CHECK(std::string(out.as<InvalidStateError>()->what()).find("Lock was destroyed") !=
                  std::string::npos);
        }());
    }
}
