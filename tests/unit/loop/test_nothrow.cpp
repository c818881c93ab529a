// nothrow(x) and propagate(outcome) (docs/zero-exception.md): a cancel delivered as a value with
// the semantics of the throw (next suspension point, one delivery per request, cancelling()
// unchanged, atomic completion), tasks ended without a throw, and chains that perform no throw
// at all — counted: this executable is linked with --wrap for __cxa_throw, __cxa_rethrow and
// std::rethrow_exception (tests/meson.build), so every throw in it and in the runtime is seen.
#include <uvtask/nothrow.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <optional>
#include <stop_token>
#include <vector>
#include <string>
#include <typeinfo>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::run_test;

namespace {
int throws = 0;  // throws seen since the test reset it (the loop thread only)
}  // namespace

extern "C" {
[[noreturn]] void __real___cxa_throw(void* object, std::type_info* type, void (*destroy)(void*));
[[noreturn]] void __wrap___cxa_throw(void* object, std::type_info* type, void (*destroy)(void*)) {
    ++throws;
    __real___cxa_throw(object, type, destroy);
}
[[noreturn]] void __real___cxa_rethrow();
[[noreturn]] void __wrap___cxa_rethrow() {
    ++throws;
    __real___cxa_rethrow();
}
}
// std::rethrow_exception(std::exception_ptr), by its mangled name.
[[noreturn]] void
__real__ZSt17rethrow_exceptionNSt15__exception_ptr13exception_ptrE(std::exception_ptr error) asm(
    "__real__ZSt17rethrow_exceptionNSt15__exception_ptr13exception_ptrE");
[[noreturn]] void wrapped_rethrow(std::exception_ptr error) asm(
    "__wrap__ZSt17rethrow_exceptionNSt15__exception_ptr13exception_ptrE");
void wrapped_rethrow(std::exception_ptr error) {
    ++throws;
    __real__ZSt17rethrow_exceptionNSt15__exception_ptr13exception_ptrE(std::move(error));
}

namespace {

struct Probe {
    bool parked = false;
    int cancels_seen = 0;
    std::string message;
    CancelKind kind = CancelKind::user;
};

/// Sleeps through nothrow; on a cancel records it and ends the task with it by propagate.
Task<int> sleeper_propagating(Probe* probe) {
    probe->parked = true;
    Outcome<void> slept = co_await nothrow(sleep(10s));
    if (slept.is_cancelled()) {
        ++probe->cancels_seen;
        probe->message = slept.message();
        probe->kind = slept.kind();
        co_yield propagate(std::move(slept));
    }
    co_return 1;
}

/// Joins `inner` through nothrow and ends with what it ended with.
Task<int> joiner_propagating(TaskHandle<int> inner, bool* parked) {
    *parked = true;
    Outcome<int> joined = co_await nothrow(inner);
    if (!joined) {
        co_yield propagate(std::move(joined));
    }
    co_return joined.value() + 1;
}

Task<void> wait_until(const bool* flag) {
    while (!*flag) {
        co_await yield_now();
    }
}

Task<int> propagates_error() {
    co_yield propagate(Outcome<int>::failed(std::make_exception_ptr(std::runtime_error("boom"))));
    co_return 0;
}

Task<int> propagates_value() {
    co_yield propagate(Outcome<int>(5));
    co_return 0;
}

Task<void> throws_cancel() {
    throw CancelledError("thrown", CancelKind::timeout);
    co_return;
}

Task<bool> lock_cancelled(Lock* lock) {
    Outcome<void> locked = co_await nothrow(lock->lock());
    if (locked) {
        lock->unlock();
    }
    co_return locked.is_cancelled();
}

Task<bool> event_cancelled(Event* event) {
    Outcome<void> waited = co_await nothrow(event->wait());
    co_return waited.is_cancelled();
}

Task<bool> semaphore_cancelled(Semaphore* semaphore) {
    Outcome<void> acquired = co_await nothrow(semaphore->acquire());
    co_return acquired.is_cancelled();
}

Task<bool> pop_cancelled(Queue<int>* queue) {
    Outcome<int> popped = co_await nothrow(queue->pop());
    co_return popped.is_cancelled();
}

Task<bool> push_cancelled(Queue<int>* queue) {
    Outcome<void> pushed = co_await nothrow(queue->push(2));
    co_return pushed.is_cancelled();
}

/// A user-written operation that never completes by itself; stopped, it ends cancelled.
class Parked final : public Operation<int> {
    void start() override {}
    void stop() noexcept override { cancelled(); }
};

Task<bool> operation_cancelled() {
    Outcome<int> parked = co_await nothrow(Parked{});
    co_return parked.is_cancelled();
}

Task<bool> to_thread_cancelled() {
    Outcome<int> ran = co_await nothrow(to_thread([](std::stop_token stop) {
        while (!stop.stop_requested()) {
        }
        return 1;
    }));
    if (ran) {
        Outcome<void> pending = co_await nothrow(checkpoint());  // the job returned: delivered here
        co_return pending.is_cancelled();
    }
    co_return ran.is_cancelled();
}

}  // namespace

TEST_SUITE("nothrow") {
    TEST_CASE("nothrow delivers the cancel as a value at the next suspension point") {
        run_test([]() -> Task<void> {
            Probe probe;
            TaskHandle<int> task = spawn(sleeper_propagating(&probe));
            co_await wait_until(&probe.parked);
            co_await yield_now();  // parked in its sleep
            CHECK(task.cancel("stop"));
            Outcome<int> joined = co_await nothrow(task);
            CHECK(probe.cancels_seen == 1);
            CHECK(probe.message == "stop");
            CHECK(probe.kind == CancelKind::user);
            REQUIRE(joined.is_cancelled());
            CHECK(joined.message() == "stop");
            CHECK(joined.kind() == CancelKind::user);
            CHECK(task.cancelled());
        }());
    }

    TEST_CASE("a cancel delivered by nothrow is consumed: one delivery per request") {
        run_test([]() -> Task<void> {
            TaskHandle<int> task = spawn([]() -> Task<int> {
                Outcome<void> first = co_await nothrow(sleep(10s));
                CHECK(first.is_cancelled());
                // Consumed: the next suspension point completes normally, and so does a
                // plain one after it.
                Outcome<void> second = co_await nothrow(sleep(1ms));
                CHECK(second.has_value());
                co_await yield_now();
                co_return this_task::cancelling();
            }());
            co_await yield_now();
            CHECK(task.cancel());
            int cancelling = co_await task;
            CHECK(cancelling == 1);  // cancelling() unchanged by a value delivery
            CHECK_FALSE(task.cancelled());
        }());
    }

    TEST_CASE("cancelling() is unchanged by a nothrow delivery and uncancel() withdraws it") {
        run_test([]() -> Task<void> {
            TaskHandle<int> task = spawn([]() -> Task<int> {
                Outcome<void> slept = co_await nothrow(sleep(10s));
                CHECK(slept.is_cancelled());
                CHECK(this_task::cancelling() == 1);
                CHECK(this_task::uncancel() == 0);
                Outcome<void> again = co_await nothrow(yield_now());
                CHECK(again.has_value());
                co_return 7;
            }());
            co_await yield_now();
            task.cancel();
            int value = co_await task;
            CHECK(value == 7);
        }());
    }

    TEST_CASE("nothrow(checkpoint()) and nothrow(yield_now()) deliver a cancel as a value") {
        run_test([]() -> Task<void> {
            TaskHandle<int> spinner = spawn([]() -> Task<int> {
                int turns = 0;
                for (;;) {
                    Outcome<void> point = co_await nothrow(checkpoint());
                    if (point.is_cancelled()) {
                        CHECK(point.message() == "enough");
                        co_return turns;
                    }
                    ++turns;
                    Outcome<void> yielded = co_await nothrow(yield_now());
                    if (yielded.is_cancelled()) {
                        co_return -turns;
                    }
                }
            }());
            co_await yield_now();
            co_await yield_now();
            spinner.cancel("enough");
            int turns = co_await spinner;
            CHECK(turns < 0);  // delivered at the yield it was suspended in
        }());
    }

    TEST_CASE("atomic completion: a value handed over before the cancel reached it is returned") {
        run_test([]() -> Task<void> {
            Queue<int> queue(1);
            TaskHandle<int> popper = spawn([](Queue<int>* q) -> Task<int> {
                Outcome<int> item = co_await nothrow(q->pop());
                REQUIRE(item.has_value());  // handed over by the push: ours
                Outcome<void> next = co_await nothrow(yield_now());
                CHECK(next.is_cancelled());  // the cancel waits for the next suspension point
                co_return item.value();
            }(&queue));
            co_await yield_now();     // the popper waits in pop()
            co_await queue.push(42);  // hands the item over; the popper is queued to resume
            popper.cancel();
            int item = co_await popper;
            CHECK(item == 42);
            CHECK(queue.empty());
        }());
    }

    TEST_CASE(
        "the zero-exception chain: cancel, nothrow await, propagate, nothrow join, no throw") {
        run_test([]() -> Task<void> {
            Probe probe;
            bool joiner_parked = false;
            TaskHandle<int> inner = spawn(sleeper_propagating(&probe));
            TaskHandle<int> outer = spawn(joiner_propagating(inner, &joiner_parked));
            co_await wait_until(&joiner_parked);
            co_await yield_now();  // both parked: the sleep and the join
            throws = 0;
            CHECK(outer.cancel("stop"));  // forwarded by outer's join to inner (§3.6)
            Outcome<int> joined = co_await nothrow(outer);
            const int seen = throws;
            CHECK(seen == 0);
            CHECK(probe.cancels_seen == 1);
            CHECK(probe.message == "stop");
            REQUIRE(joined.is_cancelled());
            CHECK(joined.message() == "stop");
            CHECK(outer.cancelled());
            CHECK(inner.cancelled());
        }());
    }

    TEST_CASE("mixing the paths: a plain co_await of a task ended by propagate throws once") {
        run_test([]() -> Task<void> {
            Probe probe;
            TaskHandle<int> task = spawn(sleeper_propagating(&probe));
            co_await wait_until(&probe.parked);
            co_await yield_now();
            task.cancel("plain");
            throws = 0;
            std::optional<std::string> caught;
            try {
                int value = co_await task;
                (void)value;
            } catch (const CancelledError& error) {
                caught = error.message();
            }
            CHECK(throws == 1);
            REQUIRE(caught);
            CHECK(*caught == "plain");
            CHECK_THROWS_AS((void)task.result(), CancelledError);
            CHECK_THROWS_AS((void)task.exception(), CancelledError);
        }());
    }

    TEST_CASE("mixing the paths: nothrow of a task that threw CancelledError reads it back") {
        run_test([]() -> Task<void> {
            Outcome<void> inline_run = co_await nothrow(throws_cancel());
            REQUIRE(inline_run.is_cancelled());
            CHECK(inline_run.message() == "thrown");
            CHECK(inline_run.kind() == CancelKind::timeout);
            TaskHandle<void> task = spawn(throws_cancel());
            Outcome<void> joined = co_await nothrow(task);
            REQUIRE(joined.is_cancelled());
            CHECK(joined.message() == "thrown");
        }());
    }

    TEST_CASE("propagate of an exception ends the task failed; of a value, InvalidStateError") {
        run_test([]() -> Task<void> {
            TaskHandle<int> failing = spawn(propagates_error());
            Outcome<int> failed = co_await nothrow(failing);
            REQUIRE(failed.has_exception());
            CHECK_THROWS_WITH_AS(std::rethrow_exception(failed.exception()), "boom",
                                 std::runtime_error);
            CHECK_FALSE(failing.cancelled());
            Outcome<int> misuse = co_await nothrow(propagates_value());
            REQUIRE(misuse.has_exception());
            CHECK_THROWS_AS(std::rethrow_exception(misuse.exception()), InvalidStateError);
        }());
    }

    TEST_CASE("nothrow(with_timeout) returns the TimeoutError without a throw") {
        run_test([]() -> Task<void> {
            throws = 0;
            Outcome<void> timed = co_await nothrow(with_timeout(1ms, sleep(10s)));
            CHECK(throws == 0);
            REQUIRE(timed.has_exception());
            CHECK_THROWS_AS(std::rethrow_exception(timed.exception()), TimeoutError);
            Outcome<bool> moved = co_await nothrow(move_on_after(1ms, sleep(10s)));
            REQUIRE(moved.has_value());
            CHECK_FALSE(moved.value());  // moved on: the deadline's expiry is no error
        }());
    }

    TEST_CASE("an outer cancel through nothrow(with_timeout) is the cancellation, not a timeout") {
        run_test([]() -> Task<void> {
            TaskHandle<int> task = spawn([]() -> Task<int> {
                throws = 0;
                Outcome<void> timed = co_await nothrow(with_timeout(10s, sleep(10s)));
                CHECK(throws == 0);
                REQUIRE(timed.is_cancelled());
                CHECK(timed.message() == "outer");
                co_return 3;
            }());
            co_await yield_now();
            task.cancel("outer");
            int value = co_await task;
            CHECK(value == 3);
        }());
    }

    TEST_CASE("a plain co_await of with_timeout throws its TimeoutError once") {
        run_test([]() -> Task<void> {
            throws = 0;
            bool timed_out = false;
            try {
                co_await with_timeout(1ms, sleep(10s));
            } catch (const TimeoutError&) {
                timed_out = true;
            }
            CHECK(timed_out);
            CHECK(throws == 1);
        }());
    }

    TEST_CASE("nothrow on an awaitable without a value delivery of its own keeps the semantics") {
        run_test([]() -> Task<void> {
            Lock lock;
            co_await lock.lock();
            TaskHandle<bool> waiter = spawn([](Lock* l) -> Task<bool> {
                Outcome<void> locked = co_await nothrow(l->lock());
                co_return locked.is_cancelled();
            }(&lock));
            co_await yield_now();  // the waiter queues for the lock
            waiter.cancel();
            bool cancelled = co_await waiter;
            CHECK(cancelled);
            lock.unlock();
            CHECK_FALSE(lock.locked());  // the cancelled waiter was never given the lock
        }());
    }

    TEST_CASE("the waits of the sync primitives deliver a cancel under nothrow with no throw") {
        run_test([]() -> Task<void> {
            Lock lock;
            co_await lock.lock();
            Event event;
            Semaphore semaphore(0);
            Queue<int> empty(1);
            Queue<int> full(1);
            co_await full.push(1);
            std::vector<TaskHandle<bool>> waiters;
            waiters.push_back(spawn(lock_cancelled(&lock)));
            waiters.push_back(spawn(event_cancelled(&event)));
            waiters.push_back(spawn(semaphore_cancelled(&semaphore)));
            waiters.push_back(spawn(pop_cancelled(&empty)));
            waiters.push_back(spawn(push_cancelled(&full)));
            co_await yield_now();  // every waiter queues in its primitive
            throws = 0;
            for (TaskHandle<bool>& waiter : waiters) {
                waiter.cancel();
            }
            int cancelled = 0;
            for (TaskHandle<bool>& waiter : waiters) {
                const bool was_cancelled = co_await waiter;
                cancelled += was_cancelled ? 1 : 0;
            }
            CHECK(throws == 0);
            CHECK(cancelled == 5);
            CHECK(full.size() == 1);  // the cancelled push put nothing in
            lock.unlock();
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("a lock handed over, then cancelled before the waiter ran, passes on (nothrow)") {
        run_test([]() -> Task<void> {
            Lock lock;
            co_await lock.lock();
            TaskHandle<bool> first = spawn(lock_cancelled(&lock));
            TaskHandle<bool> second = spawn(lock_cancelled(&lock));
            co_await yield_now();  // both queue for the lock
            lock.unlock();         // hands it to the first, which is queued to resume
            throws = 0;
            first.cancel();        // before it ran: the cancel wins, the lock passes on
            const bool first_cancelled = co_await first;
            const bool second_cancelled = co_await second;
            CHECK(throws == 0);
            CHECK(first_cancelled);
            CHECK_FALSE(second_cancelled);  // the second got the lock (and unlocked it)
            CHECK_FALSE(lock.locked());
        }());
    }

    TEST_CASE("a to_thread job that honours the stop token: the cancel arrives as a value") {
        run_test([]() -> Task<void> {
            TaskHandle<bool> waiter = spawn(to_thread_cancelled());
            co_await sleep(1ms);  // queued for the pool or running: a value either way
            throws = 0;
            waiter.cancel();
            const bool cancelled = co_await waiter;
            CHECK(cancelled);
            CHECK(throws == 0);
        }());
    }

    TEST_CASE("a user-written Operation delivers a cancel under nothrow with no throw") {
        run_test([]() -> Task<void> {
            TaskHandle<bool> waiter = spawn(operation_cancelled());
            co_await yield_now();  // parked in the operation
            throws = 0;
            waiter.cancel();
            const bool cancelled = co_await waiter;
            CHECK(cancelled);
            CHECK(throws == 0);
        }());
    }
}
