// Task<T>: lazy coroutines awaited inline.
#include <uvtask/task.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "run_test.hpp"

using namespace uvtask;
using uvtask::testing::Counted;
using uvtask::testing::run_test;

namespace {
Task<int> forty_two() { co_return 42; }
Task<int> add(int a, int b) {
    const int x = co_await forty_two();
    co_return a + b + x - 42;
}
Task<void> throws_runtime() {
    throw std::runtime_error("boom");
    co_return;
}
Task<std::unique_ptr<int>> move_only() { co_return std::make_unique<int>(5); }
Task<int> holds_counted(Counted) { co_return 1; }
}  // namespace

TEST_SUITE("task") {
    TEST_CASE("a Task does not run until it is awaited") {
        bool ran = false;
        auto body = [](bool* flag) -> Task<void> {
            *flag = true;
            co_return;
        };
        run_test([](bool* flag, auto make) -> Task<void> {
            auto t = make(flag);
            CHECK_FALSE(*flag);
            co_await std::move(t);
            CHECK(*flag);
        }(&ran, body));
        CHECK(ran);
    }

    TEST_CASE("co_await returns the value and nested tasks run inline") {
        run_test([]() -> Task<void> {
            const int v = co_await add(1, 2);
            CHECK(v == 3);
            auto p = co_await move_only();
            CHECK(*p == 5);
        }());
    }

    TEST_CASE("an exception escaping a Task is rethrown at its co_await") {
        run_test([]() -> Task<void> {
            CHECK_THROWS_WITH_AS(co_await throws_runtime(), "boom", std::runtime_error);
        }());
    }

    TEST_CASE("awaiting an empty or consumed Task is an InvalidStateError") {
        run_test([]() -> Task<void> {
            Task<int> t = forty_two();
            const int first = co_await t;
            CHECK(first == 42);
            CHECK_FALSE(t.valid());
            CHECK_THROWS_AS(co_await t, InvalidStateError);
        }());
    }

    TEST_CASE("a Task destroyed without running frees its frame and arguments") {
        CHECK(Counted::alive == 0);
        {
            Task<int> t = holds_counted(Counted{});
            CHECK(Counted::alive == 1);
        }
        CHECK(Counted::alive == 0);
    }
}
