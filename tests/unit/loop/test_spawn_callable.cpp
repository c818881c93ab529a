// spawn(callable, args…) and TaskGroup::spawn(callable, args…): the callable and its arguments
// live inside the task until it ends, so a capturing lambda that is a coroutine is safe (ASan
// would report a use-after-free if the captures died with a temporary).
#include <uvtask/spawn.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <uvtask/uvtask.hpp>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::run_test;
using uvtask::testing::settled;

TEST_SUITE("spawn") {
    TEST_CASE("spawn(callable) keeps a capturing coroutine lambda alive for the whole task") {
        run_test([]() -> Task<void> {
            auto shared = std::make_shared<int>(40);
            TaskHandle<int> task = spawn([shared, text = std::string(100, 'x')]() -> Task<int> {
                co_await sleep(1ms);  // the statement that spawned is long over
                co_await yield_now();
                co_return *shared + static_cast<int>(text.size()) / 50;
            });
            CHECK(shared.use_count() == 2);  // one copy, inside the task
            const int value = co_await task;
            CHECK(value == 42);
            CHECK(shared.use_count() == 1);  // released when the task ended
        }());
    }

    TEST_CASE("spawn(callable, args) keeps the arguments and passes them as lvalues") {
        run_test([]() -> Task<void> {
            TaskHandle<std::size_t> task = spawn(
                [](std::string& text, int times) -> Task<std::size_t> {
                    co_await yield_now();
                    text += text;
                    co_return text.size() * static_cast<std::size_t>(times);
                },
                std::string("abc"), 2);
            const std::size_t size = co_await task;
            CHECK(size == 12);
        }());
    }

    TEST_CASE("spawn(callable): a cancel before the task started never calls the callable; an "
              "exception from the call fails the task") {
        run_test([]() -> Task<void> {
            bool called = false;
            TaskHandle<void> never = spawn([&called]() -> Task<void> {
                called = true;
                co_return;
            });
            never.cancel("early");
            Ended<void> cancelled = co_await settled(never);
            CHECK(cancelled.threw<CancelledError>());
            CHECK_FALSE(called);

            TaskHandle<int> throws = spawn([]() -> Task<int> {
                throw std::runtime_error("from the factory");  // before the first suspension
                co_return 0;
            });
            Ended<int> failed = co_await settled(throws);
            CHECK(failed.threw<std::runtime_error>());
        }());
    }

    TEST_CASE("TaskGroup::spawn(callable) keeps the callable alive until the child ends") {
        run_test([]() -> Task<void> {
            auto shared = std::make_shared<int>(7);
            auto body = [shared](TaskGroup& group) -> Task<int> {
                TaskHandle<int> child = group.spawn([shared]() -> Task<int> {
                    co_await sleep(1ms);
                    co_return *shared * 6;
                });
                const int v = co_await child;
                co_return v;
            };
            const int value = co_await task_group(body);
            CHECK(value == 42);
        }());
    }
}
