// Lock: exclusive, FIFO-fair, cancel-safe (a hand-off to a cancelled waiter is passed on).
#include <uvtask/lock.hpp>

#include <doctest/doctest.h>

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

struct Shared {
    Lock lock;
    int holders = 0;
    int max_holders = 0;
    std::vector<int> order;
};

/// Takes the lock, records the order, holds it across a few yields.
Task<void> critical(Shared* shared, int id) {
    LockGuard guard = co_await shared->lock.scoped();
    shared->order.push_back(id);
    ++shared->holders;
    shared->max_holders = std::max(shared->max_holders, shared->holders);
    co_await yield_now();
    co_await yield_now();
    --shared->holders;
}

Task<void> lock_and_record(Lock* lock, int id, std::vector<int>* order) {
    co_await lock->lock();
    order->push_back(id);
    lock->unlock();
}

Task<void> lock_once(Lock* lock) { co_await lock->lock(); }

}  // namespace

TEST_SUITE("lock") {
    TEST_CASE("the lock is exclusive and granted in the order it was asked for") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            Shared shared;
            std::vector<TaskHandle<void>> tasks;
            for (int i = 0; i < 6; ++i) {
                tasks.push_back(spawn(critical(&shared, i)));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(shared.max_holders == 1);
            CHECK(shared.order == std::vector<int>{0, 1, 2, 3, 4, 5});
            CHECK_FALSE(shared.lock.locked());
        }());
    }

    TEST_CASE("unlock hands the lock to the first waiter: nobody barges in") {
        run_test([]() -> Task<void> {
            Lock lock;
            std::vector<int> order;
            co_await lock.lock();
            TaskHandle<void> a = spawn(lock_and_record(&lock, 1, &order));
            co_await yield_now();
            CHECK(lock.waiters() == 1);
            lock.unlock();
            CHECK(lock.locked());         // handed to the waiter, which has not run yet
            CHECK_FALSE(lock.try_lock());  // so a newcomer cannot take it
            TaskHandle<void> b = spawn(lock_and_record(&lock, 2, &order));
            co_await a;
            co_await b;
            CHECK(order == std::vector<int>{1, 2});
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("a waiter cancelled while waiting is unlinked; the others keep their order") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            Lock lock;
            std::vector<int> order;
            co_await lock.lock();
            TaskHandle<void> a = spawn(lock_and_record(&lock, 1, &order));
            TaskHandle<void> b = spawn(lock_and_record(&lock, 2, &order));
            TaskHandle<void> c = spawn(lock_and_record(&lock, 3, &order));
            co_await yield_now();
            b.cancel();
            CHECK(lock.waiters() == 2);
            lock.unlock();
            co_await a;
            co_await c;
            Ended<void> out = co_await settled(b);
            CHECK(out.threw<CancelledError>());
            CHECK(order == std::vector<int>{1, 3});
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("a lock handed to a waiter cancelled in the same tick is passed on, not leaked") {
        run_test([]() -> Task<void> {
            Lock lock;
            std::vector<int> order;
            co_await lock.lock();
            TaskHandle<void> b = spawn(lock_and_record(&lock, 2, &order));
            TaskHandle<void> c = spawn(lock_and_record(&lock, 3, &order));
            co_await yield_now();
            lock.unlock();  // handed to b…
            b.cancel("too late");  // …which is cancelled before it runs
            Ended<void> out = co_await settled(b);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "too late");
            co_await c;
            CHECK(order == std::vector<int>{3});  // c got the lock b gave back
            CHECK_FALSE(lock.locked());           // and nobody holds it now
        }());
    }

    TEST_CASE("a pending cancel is thrown at once, without acquiring") {
        run_test([]() -> Task<void> {
            Lock lock;
            Event go;
            auto body = [](Event* go, Lock* lock) -> Task<void> {
                co_await go->wait();
                co_await lock->lock();  // a cancel is pending: thrown here
            };
            TaskHandle<void> task = spawn(body(&go, &lock));
            co_await yield_now();
            go.set();
            task.cancel();
            Ended<void> out = co_await settled(task);
            CHECK(out.threw<CancelledError>());
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("misuse: unlocking an unlocked lock; destroying a lock with waiters") {
        run_test([]() -> Task<void> {
            Lock lock;
            CHECK_THROWS_AS(lock.unlock(), InvalidStateError);
            {
                LockGuard guard = co_await lock.scoped();
                CHECK(lock.locked());
                CHECK(guard.owns_lock());
            }
            CHECK_FALSE(lock.locked());
            std::optional<Lock> doomed(std::in_place);
            co_await doomed->lock();
            TaskHandle<void> waiting = spawn(lock_once(&*doomed));
            co_await yield_now();
            doomed.reset();
            Ended<void> out = co_await settled(waiting);
            CHECK(out.threw<InvalidStateError>());
        }());
    }
}
