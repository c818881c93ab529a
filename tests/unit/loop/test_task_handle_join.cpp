// co_await TaskHandle (docs/semantics.md §3.3, §3.6, §6): a join that completed before the cancel
// reached it, a cancel of the waiter passed on to the awaited task, and the misuses of a join
// (a task awaiting itself, a cycle, a join outside a task); a handle of another thread's loop or
// of an ended loop is awaited like any other (the cross-loop cases are in
// test_task_handle_loops.cpp).
#include <uvtask/task_handle.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "misuse_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::block_thread_for;
using uvtask::testing::cancel_of;
using uvtask::testing::catch_and_return;
using uvtask::testing::Clock;
using uvtask::testing::contains;
using uvtask::testing::join;
using uvtask::testing::outside_task_error;
using uvtask::testing::Reports;
using uvtask::testing::result_cancel;
using uvtask::testing::run_test;
using uvtask::testing::run_until;
using uvtask::testing::set_flag;
using uvtask::testing::set_flag_and_return;
using uvtask::testing::sleep_and_record;
using uvtask::testing::sleep_catching_cancel;
using uvtask::testing::sleep_for;
using uvtask::testing::sleep_forever;
using uvtask::testing::SleepRecord;
using uvtask::testing::yield_once;
using uvtask::testing::yield_until;

namespace {

Task<int> returns(int value) { co_return value; }

Task<int> returns_after_yield(int value) {
    co_await yield_now();
    co_return value;
}

Task<void> sleeps_forever() { co_await sleep(10s); }

Task<void> awaits_handle(TaskHandle<void>* target) { co_await *target; }

Task<void> awaits_itself(TaskHandle<void>* self, std::string* error) {
    co_await yield_now();
    try {
        co_await *self;
    } catch (const InvalidStateError& e) {
        *error = e.what();
    }
}

}  // namespace

TEST_SUITE("task_handle") {
    namespace {
    Task<int> join_and_yield(TaskHandle<int> target, bool* yield_threw) {
        const int value = co_await target;
        auto error = co_await cancel_of(yield_once());
        *yield_threw = error.has_value();
        co_return value;
    }
    Task<int> seven_after_yield() {
        co_await yield_now();
        co_return 7;
    }
    }  // namespace

    TEST_CASE(
        "3.3 a join that completed before the cancel reached it returns the value and the "
        "cancel waits for the next suspension point") {
        run_test([]() -> Task<void> {
            bool yield_threw = false;
            auto target = spawn(seven_after_yield());
            auto joiner = spawn(join_and_yield(target, &yield_threw));
            // When the target ends its joiner is woken; cancelling the joiner from the target's
            // done callback reaches it after the join completed and before it resumed.
            bool cancel_returned = false;
            target.add_done_callback([joiner, &cancel_returned](const TaskHandle<int>&) {
                cancel_returned = joiner.cancel("after the join");
            });
            const int value = co_await joiner;
            CHECK(cancel_returned);
            CHECK(value == 7);
            CHECK(yield_threw);
            CHECK(target.result() == 7);
            CHECK(target.cancelling() == 0);  // the cancel was not passed on: the join was over
        }());
    }

    namespace {
    struct PropagationRecord {
        std::optional<CancelledError> from_join;
        bool later_await_ok = false;
    };
    Task<int> join_catch_and_continue(TaskHandle<void> target, PropagationRecord* record) {
        record->from_join = co_await cancel_of(join(target));
        // One delivery: the joiner's own request was consumed by the error it got from the join.
        co_await sleep(1ms);
        co_await yield_now();
        record->later_await_ok = true;
        co_return 3;
    }
    }  // namespace

    TEST_CASE("3.6 cancelling a task that awaits a handle cancels that task too") {
        run_test([]() -> Task<void> {
            PropagationRecord record;
            auto target = spawn(sleep_forever());
            auto joiner = spawn(join_catch_and_continue(target, &record));
            co_await yield_now();  // the joiner waits on the target
            CHECK(joiner.cancel("stop", CancelKind::parent));
            CHECK(target.cancelling() == 1);
            const int result = co_await joiner;
            CHECK(result == 3);
            CHECK(target.cancelled());
            auto target_error = result_cancel(target);
            REQUIRE(target_error.has_value());
            CHECK(target_error->message() == "stop");
            CHECK(target_error->kind() == CancelKind::parent);
            REQUIRE(record.from_join.has_value());
            CHECK(record.from_join->message() == "stop");
            CHECK(record.later_await_ok);
            CHECK(joiner.cancelling() == 1);
        }());
    }

    namespace {
    struct RefusedJoinRecord {
        int value = 0;
        bool next_await_threw = false;
        std::string message;
    };
    Task<void> join_refusing_target(TaskHandle<int> target, RefusedJoinRecord* record) {
        record->value = co_await target;
        auto error = co_await cancel_of(yield_once());
        if (error) {
            record->next_await_threw = true;
            record->message = error->message();
        }
    }
    }  // namespace

    TEST_CASE(
        "3.6 if the awaited task refuses the cancel, the waiter gets its result and the cancel at "
        "its next suspension point") {
        run_test([]() -> Task<void> {
            RefusedJoinRecord record;
            auto target = spawn(catch_and_return(9));
            auto joiner = spawn(join_refusing_target(target, &record));
            co_await yield_now();
            joiner.cancel("not swallowed");
            co_await joiner;
            CHECK(record.value == 9);
            CHECK(record.next_await_threw);
            CHECK(record.message == "not swallowed");
            CHECK_FALSE(target.cancelled());
            CHECK(target.cancelling() == 1);
        }());
    }

    namespace {
    struct HeldJoinRecord {
        std::optional<CancelledError> from_join;
        std::optional<CancelledError> own;
    };
    Task<void> join_while_holding(TaskHandle<void> target, HeldJoinRecord* record) {
        record->from_join = co_await cancel_of(non_cancellable(join(target)));
        record->own = co_await cancel_of(yield_once());
    }
    }  // namespace

    TEST_CASE(
        "3.6 a waiter's request that did not reach the awaited task is not consumed when that "
        "task ends cancelled for another reason") {
        run_test([]() -> Task<void> {
            HeldJoinRecord record;
            auto target = spawn(sleep_forever());
            auto joiner = spawn(join_while_holding(target, &record));
            co_await yield_now();
            joiner.cancel("the joiner's");  // held back: not passed on to the target
            CHECK(target.cancelling() == 0);
            target.cancel("the target's");
            co_await joiner;
            REQUIRE(record.from_join.has_value());
            CHECK(record.from_join->message() == "the target's");
            // The joiner's own request is still delivered, at its first suspension point after.
            REQUIRE(record.own.has_value());
            CHECK(record.own->message() == "the joiner's");
        }());
    }

    TEST_CASE(
        "a join keeps the awaited task alive even if every handle to it is dropped meanwhile") {
        run_test([]() -> Task<void> {
            auto holder = std::make_unique<TaskHandle<int>>(spawn(returns_after_yield(21)));
            auto waiter = [](TaskHandle<int>* target) -> Task<int> {
                const int v = co_await *target;  // the awaiter outlives *target below
                co_return v;
            };
            TaskHandle<int> w = spawn(waiter(holder.get()));
            co_await yield_now();  // the waiter is suspended in its join
            CHECK_FALSE(w.done());
            holder.reset();  // the last handle to the awaited task goes
            const int v = co_await w;
            CHECK(v == 21);
        }());
    }

    TEST_CASE(
        "awaiting a handle of another thread's loop waits for the task's end there and "
        "rethrows how it ended") {
        // The far task is still pending on a live loop while we await it here; the far thread
        // cancels it once we are about to wait (before or after we suspend: the same outcome).
        std::atomic<bool> ready{false};
        std::atomic<bool> joining{false};
        TaskHandle<void> far;
        std::thread other([&far, &ready, &joining] {
            uv_loop_t loop;
            CHECK(uv_loop_init(&loop) == 0);
            {
                Loop adopted(&loop);
                far = spawn(sleeps_forever(), "far-sleeper");
                ready.store(true);
                while (!joining.load()) {
                    uv_run(&loop, UV_RUN_NOWAIT);
                }
                (void)far.cancel("done with it");
                run_until(&loop, [&far] { return far.done(); });
            }
            uv_run(&loop, UV_RUN_DEFAULT);
            CHECK(uv_loop_close(&loop) == 0);
        });
        while (!ready.load()) {
            std::this_thread::yield();
        }
        std::string message;
        run_test([](TaskHandle<void> target, std::atomic<bool>* about_to_wait,
                    std::string* out) -> Task<void> {
            about_to_wait->store(true);
            try {
                co_await target;
            } catch (const CancelledError& e) {
                *out = e.message();
            }
        }(far, &joining, &message));
        other.join();
        CHECK(message == "done with it");
        CHECK(far.cancelled());
    }

    TEST_CASE("awaiting a handle whose loop ran on a finished thread returns its result") {
        TaskHandle<int> far;
        std::thread other([&far] {
            uv_loop_t loop;
            CHECK(uv_loop_init(&loop) == 0);
            {
                Loop adopted(&loop);
                far = spawn(returns(5), "far-done");
                run_until(&loop, [&far] { return far.done(); });
            }
            uv_run(&loop, UV_RUN_DEFAULT);
            CHECK(uv_loop_close(&loop) == 0);
        });
        other.join();  // the handle comes back through the join
        REQUIRE(far.done());
        int got = 0;
        run_test([](TaskHandle<int> target, int* out) -> Task<void> { *out = co_await target; }(
                                                          far, &got));
        CHECK(got == 5);
    }

    TEST_CASE("awaiting a handle of an earlier loop on the same thread returns its result") {
        TaskHandle<int> old;
        run_test([](TaskHandle<int>* out) -> Task<void> {
            *out = spawn(returns(3), "from-the-first-loop");
            co_await *out;
        }(&old));
        REQUIRE(old.done());
        int got = 0;
        run_test([](TaskHandle<int> target, int* out) -> Task<void> { *out = co_await target; }(
                                                          old, &got));
        CHECK(got == 3);
    }

    TEST_CASE("6 a task awaiting its own handle is an InvalidStateError naming it") {
        run_test([]() -> Task<void> {
            TaskHandle<void> self;
            std::string error;
            self = spawn(awaits_itself(&self, &error), "narcissus");
            co_await self;
            CHECK(contains(error, "narcissus"));
            CHECK(contains(error, "itself"));
        }());
    }

    TEST_CASE("6 tasks awaiting each other in a cycle end cancelled when one is cancelled") {
        run_test([]() -> Task<void> {
            TaskHandle<void> a;
            TaskHandle<void> b;
            a = spawn(awaits_handle(&b), "cycle-a");
            b = spawn(awaits_handle(&a), "cycle-b");
            co_await yield_now();
            co_await yield_now();
            CHECK_FALSE(a.done());
            CHECK(a.cancel("break the cycle"));
            bool a_cancelled = false;
            try {
                co_await shield(a);
            } catch (const CancelledError& e) {
                a_cancelled = e.message() == "break the cycle";
            }
            CHECK(a_cancelled);
            bool b_cancelled = false;
            try {
                co_await shield(b);
            } catch (const CancelledError&) {
                b_cancelled = true;
            }
            CHECK(b_cancelled);
            CHECK(a.cancelled());
            CHECK(b.cancelled());
        }());
    }

    TEST_CASE("6 co_await on a handle outside a task is an InvalidStateError") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        {
            Loop adopted(&loop);
            TaskHandle<int> h = spawn(returns(2));
            CHECK(contains(outside_task_error([h] { return h.operator co_await(); }), "outside"));
            CHECK(contains(outside_task_error([h] { return shield(h); }), "outside"));
            run_until(&loop, [&h] { return h.done(); });
            CHECK(h.result() == 2);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
    }
}
