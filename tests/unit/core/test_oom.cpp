// Out of memory on the cancellation paths: every one of them survives an allocation failure
// (never std::terminate from a noexcept path), and a failure is reported as itself.
#include <uvtask/uvtask.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <new>
#include <string>

#include "failing_allocations.hpp"
#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::FailingAllocations;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

Task<void> sleep_forever() { co_await sleep(10s); }

Task<void> awaits(TaskHandle<void> next) { co_await next; }

Task<int> answer() {
    co_await yield_now();
    co_return 42;
}

// Bigger than any cached size class: its state always comes from operator new.
struct Big {
    char bytes[4096] = {};
};

Task<Big> big() {
    co_await yield_now();
    co_return Big{};
}

const std::string long_message(200, 'm');  // never fits a short-string buffer

}  // namespace

TEST_SUITE("oom") {
    TEST_CASE("a join passing on a cancel survives running out of memory for the message") {
        run_test([]() -> Task<void> {
            TaskHandle<void> inner = spawn(sleep_forever(), "inner");
            TaskHandle<void> outer = spawn(awaits(inner), "outer");  // named: its extras exist
            co_await sleep(1ms);
            std::string message = long_message;
            {
                FailingAllocations fail(0, 1000);  // every allocation fails meanwhile
                CHECK(outer.cancel(std::move(message)));
            }
            CHECK(uvtask::testing::failed_allocations.load() > 0);
            Ended<void> out = co_await settled(outer);
            CHECK(out.threw<CancelledError>());
            CHECK(inner.cancelled());  // passed on, without its message
        }());
    }

    TEST_CASE("a task cancelled with a long message before it first ran takes the cancel "
              "without allocating") {
        run_test([]() -> Task<void> {
            TaskHandle<int> task = spawn(answer(), "never ran");
            CHECK(task.cancel(long_message));
            {
                FailingAllocations fail(0, 1000);
                co_await yield_now();  // the task's first step runs meanwhile: it is skipped
            }
            REQUIRE(task.cancelled());
            Ended<int> out = outcome_of(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == long_message);
        }());
    }

    TEST_CASE("gather whose first task cannot be spawned throws the allocation failure") {
        run_test([]() -> Task<void> {
            Task<Ended<std::tuple<Big, int>>> both = outcome_of(gather(big(), answer()));
            Ended<std::tuple<Big, int>> out;
            {
                FailingAllocations fail(0, 1);  // exactly the first task's state
                out = co_await std::move(both);
            }
            CHECK(out.threw<std::bad_alloc>());
            CHECK_FALSE(out.threw<InvalidStateError>());
        }());
    }

    TEST_CASE("a Deadline reschedule that runs out of memory keeps the deadline it had") {
        // Found in review: the new time was stored and the timer disarmed before arming the new
        // one threw, so the deadline never fired.
        run_test([]() -> Task<void> {
            Deadline deadline = Deadline::after(20ms);
            auto work = [](Deadline* d) -> Task<void> {
                const auto before = d->when();
                {
                    FailingAllocations fail(0, 1);  // the new timer's bucket
                    CHECK_THROWS_AS(d->reschedule_after(std::chrono::hours(1)), std::bad_alloc);
                }
                CHECK(d->when() == before);
                co_await sleep(5s);  // the old deadline (20 ms) still ends this
            };
            Ended<void> out = co_await outcome_of(deadline.run(work(&deadline)));
            CHECK(out.threw<TimeoutError>());
        }());
    }
}
