// Semaphore and BoundedSemaphore: bounded concurrency, FIFO, permits conserved under cancellation.
#include <uvtask/semaphore.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
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
    explicit Shared(int permits) : semaphore(permits) {}
    Semaphore semaphore;
    int holders = 0;
    int max_holders = 0;
    std::vector<int> order;
};

Task<void> bounded_work(Shared* shared, int id) {
    SemaphoreGuard permit = co_await shared->semaphore.scoped();
    shared->order.push_back(id);
    ++shared->holders;
    shared->max_holders = std::max(shared->max_holders, shared->holders);
    co_await yield_now();
    co_await yield_now();
    --shared->holders;
}

Task<void> acquire_and_record(Semaphore* semaphore, int id, std::vector<int>* order) {
    co_await semaphore->acquire();
    order->push_back(id);
    semaphore->release();
}

Task<void> acquire_once(Semaphore* semaphore) { co_await semaphore->acquire(); }

}  // namespace

TEST_SUITE("semaphore") {
    TEST_CASE("at most value() tasks hold a permit, granted in FIFO order") {
        run_test([]() -> Task<void> {
            assume_fifo_schedule();  // asserts the order of spawned/woken tasks
            Shared shared(2);
            std::vector<TaskHandle<void>> tasks;
            for (int i = 0; i < 7; ++i) {
                tasks.push_back(spawn(bounded_work(&shared, i)));
            }
            for (auto& t : tasks) {
                co_await t;
            }
            CHECK(shared.max_holders == 2);
            CHECK(shared.order == std::vector<int>{0, 1, 2, 3, 4, 5, 6});
            CHECK(shared.semaphore.value() == 2);
        }());
    }

    TEST_CASE("release hands the permit to the first waiter: nobody barges in") {
        run_test([]() -> Task<void> {
            Semaphore semaphore(1);
            std::vector<int> order;
            co_await semaphore.acquire();
            TaskHandle<void> a = spawn(acquire_and_record(&semaphore, 1, &order));
            co_await yield_now();
            semaphore.release();
            CHECK(semaphore.value() == 0);  // handed over, not returned to the pool
            CHECK_FALSE(semaphore.try_acquire());
            co_await a;
            CHECK(semaphore.value() == 1);
            CHECK(order == std::vector<int>{1});
        }());
    }

    TEST_CASE("a permit handed to a waiter cancelled in the same tick goes to the next one") {
        run_test([]() -> Task<void> {
            Semaphore semaphore(1);
            std::vector<int> order;
            co_await semaphore.acquire();
            TaskHandle<void> b = spawn(acquire_and_record(&semaphore, 2, &order));
            TaskHandle<void> c = spawn(acquire_and_record(&semaphore, 3, &order));
            co_await yield_now();
            semaphore.release();  // handed to b…
            b.cancel();           // …cancelled before it runs
            Ended<void> out = co_await settled(b);
            CHECK(out.threw<CancelledError>());
            co_await c;
            CHECK(order == std::vector<int>{3});
            CHECK(semaphore.value() == 1);  // conserved
        }());
    }

    TEST_CASE("a waiter cancelled while waiting is unlinked and permits are conserved") {
        run_test([]() -> Task<void> {
            Semaphore semaphore(0);
            std::vector<int> order;
            TaskHandle<void> a = spawn(acquire_and_record(&semaphore, 1, &order));
            TaskHandle<void> b = spawn(acquire_and_record(&semaphore, 2, &order));
            co_await yield_now();
            CHECK(semaphore.waiters() == 2);
            a.cancel();
            CHECK(semaphore.waiters() == 1);
            semaphore.release();
            co_await b;
            Ended<void> out = co_await settled(a);
            CHECK(out.threw<CancelledError>());
            CHECK(order == std::vector<int>{2});
            CHECK(semaphore.value() == 1);
        }());
    }

    TEST_CASE("BoundedSemaphore rejects a release above its initial value; bad values rejected") {
        run_test([]() -> Task<void> {
            BoundedSemaphore bounded(1);
            CHECK_THROWS_AS(bounded.release(), InvalidStateError);
            co_await bounded.acquire();
            bounded.release();
            CHECK(bounded.value() == 1);
            Semaphore unbounded(0);
            unbounded.release();  // a plain semaphore may grow
            CHECK(unbounded.value() == 1);
            CHECK_THROWS_AS(Semaphore(-1), std::invalid_argument);
            CHECK_THROWS_AS(BoundedSemaphore(-1), std::invalid_argument);
        }());
    }

    TEST_CASE("a pending cancel is thrown at once, without taking a permit; guards release") {
        run_test([]() -> Task<void> {
            Semaphore semaphore(1);
            Event go;
            auto body = [](Event* go, Semaphore* s) -> Task<void> {
                co_await go->wait();
                co_await s->acquire();
            };
            TaskHandle<void> task = spawn(body(&go, &semaphore));
            co_await yield_now();
            go.set();
            task.cancel();
            Ended<void> out = co_await settled(task);
            CHECK(out.threw<CancelledError>());
            CHECK(semaphore.value() == 1);
            {
                SemaphoreGuard guard = co_await semaphore.scoped();
                CHECK(semaphore.value() == 0);
                CHECK(semaphore.locked());
            }
            CHECK(semaphore.value() == 1);
            std::optional<Semaphore> doomed(std::in_place, 0);
            TaskHandle<void> waiting = spawn(acquire_once(&*doomed));
            co_await yield_now();
            doomed.reset();
            Ended<void> gone = co_await settled(waiting);
            CHECK(gone.threw<InvalidStateError>());
        }());
    }

    TEST_CASE("destroying a Semaphore with waiters wakes them with InvalidStateError") {
        run_test([]() -> Task<void> {
            std::optional<Semaphore> doomed(std::in_place, 0);
            TaskHandle<void> first = spawn(acquire_once(&*doomed));
            TaskHandle<void> second = spawn(acquire_once(&*doomed));
            co_await yield_now();
            CHECK(doomed->waiters() == 2);
            doomed.reset();
            Ended<void> out_first = co_await settled(first);
            CHECK(out_first.threw<InvalidStateError>());
            Ended<void> out_second = co_await settled(second);
            CHECK(out_second.threw<InvalidStateError>());
        }());
    }
}
