// docs/semantics.md §3, clause by clause: what cancel() does, where CancelledError is delivered, atomic
// completion, refusing, propagation into awaited tasks, shield, non_cancellable, yield_now and
// checkpoint, code that cannot suspend, and cancel() from another thread.
#include <uvtask/uvtask.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::run_test;

namespace {

using Clock = std::chrono::steady_clock;

// ---- small building blocks (coroutine functions taking arguments by value)

Task<void> sleep_for(std::chrono::milliseconds delay) { co_await sleep(delay); }
Task<void> yield_once() { co_await yield_now(); }

template <class T>
Task<T> join(TaskHandle<T> handle) {
    if constexpr (std::is_void_v<T>) {
        co_await handle;
    } else {
        T value = co_await handle;
        co_return value;
    }
}

/// Runs `work` inline and returns the CancelledError it threw, or nullopt if it completed.
template <class T>
Task<std::optional<CancelledError>> cancel_of(Task<T> work) {
    std::optional<CancelledError> error;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(work);
        } else {
            [[maybe_unused]] T value = co_await std::move(work);
        }
    } catch (const CancelledError& e) {
        error = e;
    }
    co_return error;
}

/// The CancelledError a finished task's handle rethrows from `result()`, or nullopt.
template <class T>
std::optional<CancelledError> result_cancel(const TaskHandle<T>& handle) {
    try {
        (void)handle.result();
    } catch (const CancelledError& e) {
        return e;
    }
    return std::nullopt;
}

/// Yields until `flag` is set (another task sets it); bounded so a broken runtime fails instead
/// of spinning forever.
Task<void> yield_until(const bool* flag) {
    for (int i = 0; i < 100'000 && !*flag; ++i) {
        co_await yield_now();
    }
    REQUIRE(*flag);
}

/// Busy-waits (without suspending) until `delay` has passed: makes a deadline or a time slice
/// certainly expire. Not a speed assertion.
void block_thread_for(std::chrono::microseconds delay) {
    const auto end = Clock::now() + delay;
    while (Clock::now() < end) {
    }
}

// A task that sleeps "forever" and records what cancelled it.
struct SleepRecord {
    bool caught = false;
    std::string message;
    CancelKind kind = CancelKind::user;
};
Task<void> sleep_and_record(SleepRecord* record) {
    try {
        co_await sleep(1h);
    } catch (const CancelledError& e) {
        record->caught = true;
        record->message = e.message();
        record->kind = e.kind();
    }
}

Task<void> sleep_forever() { co_await sleep(1h); }

/// Sleeps `delay` and catches a CancelledError (the sleep may also complete first, if the
/// thread was preempted for longer than `delay`).
Task<void> sleep_catching_cancel(std::chrono::milliseconds delay) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
    }
}

Task<int> set_flag_and_return(bool* flag, int value) {
    *flag = true;
    co_return value;
}
Task<void> set_flag(bool* flag) {
    *flag = true;
    co_return;
}

}  // namespace

TEST_SUITE("cancellation") {
    // ================================================================= 3.1

    namespace {
    Task<void> refuse_and_record(SleepRecord* record) { co_await sleep_and_record(record); }
    Task<int> returns_five() { co_return 5; }
    }  // namespace

    TEST_CASE("3.1 cancel() on a pending task returns true, counts, and the latest message wins") {
        run_test([]() -> Task<void> {
            // Suspended in a sleep: both requests reach the task before it resumes.
            SleepRecord record;
            auto sleeper = spawn(refuse_and_record(&record));
            co_await yield_now();  // the sleeper parks in its sleep
            CHECK(sleeper.cancelling() == 0);
            CHECK(sleeper.cancel("first"));
            CHECK(sleeper.cancelling() == 1);
            CHECK(sleeper.cancel("second"));
            CHECK(sleeper.cancelling() == 2);
            CHECK_FALSE(sleeper.done());
            co_await sleeper;
            CHECK(record.caught);
            CHECK(record.message == "second");

            // Not started yet: it ends cancelled with the latest message.
            bool ran = false;
            auto fresh = spawn(set_flag(&ran));
            CHECK(fresh.cancel("a"));
            CHECK(fresh.cancel("b"));
            CHECK(fresh.cancelling() == 2);
            auto error = co_await cancel_of(join(fresh));
            REQUIRE(error.has_value());
            CHECK(error->message() == "b");
            CHECK_FALSE(ran);
        }());
    }

    TEST_CASE("3.1 cancel() on a done task returns false and changes nothing") {
        run_test([]() -> Task<void> {
            auto finished = spawn(returns_five());
            const int five = co_await finished;
            CHECK(five == 5);
            CHECK_FALSE(finished.cancel("late"));
            CHECK(finished.cancelling() == 0);
            CHECK_FALSE(finished.cancelled());
            CHECK(finished.result() == 5);
            const int again = co_await finished;
            CHECK(again == 5);

            // A task that ended cancelled keeps its count and its message.
            auto cancelled = spawn(sleep_forever());
            co_await yield_now();
            CHECK(cancelled.cancel("original"));
            auto first = co_await cancel_of(join(cancelled));
            REQUIRE(first.has_value());
            CHECK_FALSE(cancelled.cancel("late"));
            CHECK(cancelled.cancelling() == 1);
            auto second = co_await cancel_of(join(cancelled));
            REQUIRE(second.has_value());
            CHECK(second->message() == "original");
        }());
    }

    // ================================================================= 3.2

    namespace {
    struct YieldRecord {
        bool parked = false;
        bool caught = false;
        std::string message;
    };
    Task<void> yield_and_record(YieldRecord* record) {
        record->parked = true;
        auto error = co_await cancel_of(yield_once());
        if (error) {
            record->caught = true;
            record->message = error->message();
        }
    }
    Task<void> join_and_record(TaskHandle<void> target, SleepRecord* record) {
        try {
            co_await target;
        } catch (const CancelledError& e) {
            record->caught = true;
            record->message = e.message();
        }
    }
    }  // namespace

    TEST_CASE("3.2 a suspended task receives CancelledError at once, wherever it is suspended") {
        run_test([]() -> Task<void> {
            // In a sleep: the timer is stopped and the task is the next to run.
            SleepRecord in_sleep;
            auto sleeper = spawn(sleep_and_record(&in_sleep));
            co_await yield_now();
            CHECK(sleeper.cancel("wake up"));
            co_await yield_now();  // behind the woken sleeper
            CHECK(in_sleep.caught);
            CHECK(in_sleep.message == "wake up");
            CHECK(sleeper.done());

            // In the ready queue after yield_now(): it resumes with the error.
            YieldRecord in_yield;
            auto yielder = spawn(yield_and_record(&in_yield));
            co_await yield_now();  // the yielder runs and queues behind us
            REQUIRE(in_yield.parked);
            CHECK(yielder.cancel("queued"));
            co_await yield_now();
            CHECK(in_yield.caught);
            CHECK(in_yield.message == "queued");

            // In a join: the awaited task is cancelled, and the waiter gets its error.
            SleepRecord in_join;
            auto target = spawn(sleep_forever());
            auto joiner = spawn(join_and_record(target, &in_join));
            co_await yield_now();
            CHECK(joiner.cancel("stop join"));
            co_await yield_now();  // the target runs its cancellation and ends
            co_await yield_now();  // the joiner resumes
            CHECK(target.cancelled());
            CHECK(in_join.caught);
            CHECK(in_join.message == "stop join");

            // A cancelled sleep's timer is gone: its deadline passing later touches nothing
            // (under ASan a stale timer node would be a use-after-free). The frame that held
            // the timer node is freed before the deadline.
            auto short_sleep = spawn(sleep_catching_cancel(20ms));
            co_await yield_now();
            short_sleep.cancel("short");
            co_await short_sleep;
            co_await sleep(30ms);
        }());
    }

    namespace {
    struct RunningRecord {
        TaskHandle<void>* self = nullptr;
        bool cancel_returned = false;
        bool reached_next_statement = false;
        bool requested_before_suspension = false;
        bool caught_at_suspension = false;
        std::string message;
    };
    Task<void> cancel_self_while_running(RunningRecord* record) {
        record->cancel_returned = record->self->cancel("self");
        record->reached_next_statement = true;  // no suspension since cancel(): no error yet
        record->requested_before_suspension = this_task::cancel_requested();
        try {
            co_await yield_now();
        } catch (const CancelledError& e) {
            record->caught_at_suspension = true;
            record->message = e.message();
        }
    }
    }  // namespace

    TEST_CASE("3.2 a running task receives it at its next suspension point, not before") {
        run_test([]() -> Task<void> {
            RunningRecord record;
            TaskHandle<void> handle = spawn(cancel_self_while_running(&record));
            record.self = &handle;
            co_await handle;
            CHECK(record.cancel_returned);
            CHECK(record.reached_next_statement);
            CHECK(record.requested_before_suspension);
            CHECK(record.caught_at_suspension);
            CHECK(record.message == "self");
        }());
    }

    // ================================================================= 3.3

    namespace {
    struct CompletedSleepRecord {
        bool asleep = false;
        bool sleep_threw = false;
        bool sleep_returned = false;
        bool requested_when_sleep_returned = false;
        bool next_yield_threw = false;
        std::string message;
    };
    Task<void> sleeping_victim(CompletedSleepRecord* record) {
        record->asleep = true;
        auto in_sleep = co_await cancel_of(sleep_for(1ms));
        if (in_sleep) {
            record->sleep_threw = true;  // the sleep had completed: this breaks §3.3
            co_return;
        }
        record->sleep_returned = true;
        record->requested_when_sleep_returned = this_task::cancel_requested();
        auto next = co_await cancel_of(yield_once());
        if (next) {
            record->next_yield_threw = true;
            record->message = next->message();
            co_return;
        }
        // The cancel had not arrived when the sleep returned (a rare scheduling, see the test):
        // wait for it, so that the attempt ends.
        for (int i = 0; i < 1'000'000; ++i) {
            auto later = co_await cancel_of(yield_once());
            if (later) {
                co_return;
            }
        }
    }
    struct LateCancel {
        TaskHandle<void> victim;
        bool cancel_returned = false;
    };
    void cancel_from_timer(uv_timer_t* timer) {
        auto* late = static_cast<LateCancel*>(timer->data);
        late->cancel_returned = late->victim.cancel("too late for the sleep");
    }

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
        "3.3 a sleep that completed before the cancel reached it delivers its result and the "
        "cancel waits for the next suspension point") {
        run_test([]() -> Task<void> {
            // The victim parks in a 1 ms sleep; the thread is then held until its deadline has
            // certainly passed, and a libuv timer of ours is armed, due now. On the next turn
            // libuv runs its due timers earliest first: the runtime's (which wakes the victim:
            // its sleep completed), then ours, which cancels the victim before it resumed.
            // If the runtime's timer fired already before we held the thread (the thread was
            // preempted for over 1 ms in between), the victim resumes before the cancel exists:
            // that attempt proves nothing and is repeated.
            static uv_timer_t timers[10];  // static: closed after the test task ends
            bool exercised = false;
            for (uv_timer_t& timer : timers) {
                CompletedSleepRecord record;
                TaskHandle<void> victim = spawn(sleeping_victim(&record));
                co_await yield_now();
                REQUIRE(record.asleep);
                block_thread_for(5ms);
                LateCancel late{victim};
                uv_loop_t* loop = Loop::current()->native();
                uv_timer_init(loop, &timer);
                timer.data = &late;
                uv_update_time(loop);
                uv_timer_start(&timer, &cancel_from_timer, 0, 0);
                auto error = co_await cancel_of(join(victim));
                uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
                CHECK_FALSE(error.has_value());  // the victim caught the error itself
                CHECK(late.cancel_returned);
                CHECK_FALSE(record.sleep_threw);
                if (record.sleep_threw || !record.requested_when_sleep_returned) {
                    continue;
                }
                exercised = true;
                CHECK(record.sleep_returned);
                CHECK(record.next_yield_threw);
                CHECK(record.message == "too late for the sleep");
                break;
            }
            CHECK(exercised);
        }());
    }

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

    // ================================================================= 3.4

    namespace {
    Task<int> catch_then_await_normally(bool* later_awaits_ok) {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        // The request was delivered once: every later suspension point runs normally.
        co_await sleep(1ms);
        co_await yield_now();
        co_await checkpoint();
        auto helper = spawn(returns_five());
        const int five = co_await helper;
        *later_awaits_ok = five == 5;
        co_return 1;
    }
    Task<int> catch_and_return(int value) {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        co_return value;
    }
    struct UncancelRecord {
        int cancelling_after_catch = -1;
        int cancelling_after_more_awaits = -1;
        int after_uncancel = -1;
    };
    Task<void> catch_then_uncancel(UncancelRecord* record) {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        record->cancelling_after_catch = this_task::cancelling();
        co_await yield_now();
        co_await sleep(1ms);
        record->cancelling_after_more_awaits = this_task::cancelling();
        record->after_uncancel = this_task::uncancel();
    }
    }  // namespace

    TEST_CASE("3.4 one delivery per request: after catching, later awaits run normally") {
        run_test([]() -> Task<void> {
            bool later_awaits_ok = false;
            auto task = spawn(catch_then_await_normally(&later_awaits_ok));
            co_await yield_now();
            CHECK(task.cancel("once"));
            const int result = co_await task;
            CHECK(result == 1);
            CHECK(later_awaits_ok);
        }());
    }

    TEST_CASE(
        "3.4 a task that catches and returns a value is not cancelled() and its value is the "
        "result") {
        run_test([]() -> Task<void> {
            auto task = spawn(catch_and_return(42));
            co_await yield_now();
            CHECK(task.cancel("refused"));
            const int value = co_await task;
            CHECK(value == 42);
            CHECK(task.done());
            CHECK_FALSE(task.cancelled());
            CHECK(task.result() == 42);
            CHECK(task.exception() == nullptr);
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("3.4 cancelling() stays raised until uncancel()") {
        run_test([]() -> Task<void> {
            UncancelRecord record;
            auto task = spawn(catch_then_uncancel(&record));
            co_await yield_now();
            task.cancel();
            co_await task;
            CHECK(record.cancelling_after_catch == 1);
            CHECK(record.cancelling_after_more_awaits == 1);
            CHECK(record.after_uncancel == 0);
            CHECK(task.cancelling() == 0);
            CHECK(task.uncancel() == 0);  // never below zero
        }());
    }

    namespace {
    struct PendingRecord {
        TaskHandle<void>* self = nullptr;
        int after_first_uncancel = -1;
        bool delivered_with_one_left = false;
        bool delivered_after_all_withdrawn = true;
    };
    Task<void> uncancel_pending_requests(PendingRecord* record) {
        // Two requests, one withdrawn: one is still outstanding and is delivered.
        record->self->cancel("one");
        record->self->cancel("two");
        record->after_first_uncancel = record->self->uncancel();
        auto first = co_await cancel_of(yield_once());
        record->delivered_with_one_left = first.has_value();
        // A request withdrawn before delivery (count back to zero) is dropped (asyncio 3.13).
        record->self->uncancel();
        record->self->cancel("three");
        record->self->uncancel();
        auto second = co_await cancel_of(yield_once());
        record->delivered_after_all_withdrawn = second.has_value();
    }
    }  // namespace

    TEST_CASE("3.4 uncancel() withdraws requests: the last withdrawal drops an undelivered one") {
        run_test([]() -> Task<void> {
            PendingRecord record;
            TaskHandle<void> handle = spawn(uncancel_pending_requests(&record));
            record.self = &handle;
            co_await handle;
            CHECK(record.after_first_uncancel == 1);
            CHECK(record.delivered_with_one_left);
            CHECK_FALSE(record.delivered_after_all_withdrawn);
            CHECK(handle.cancelling() == 0);
            CHECK_FALSE(handle.cancelled());
        }());
    }

    // ================================================================= 3.5

    namespace {
    Task<void> catch_and_throw_other() {
        auto error = co_await cancel_of(sleep_forever());
        REQUIRE(error.has_value());
        throw std::runtime_error("replaced");
    }
    }  // namespace

    TEST_CASE(
        "3.5 CancelledError escaping the body ends the task cancelled; awaiting it rethrows the "
        "same message") {
        run_test([]() -> Task<void> {
            auto task = spawn(sleep_forever());
            co_await yield_now();
            CHECK(task.cancel("bye"));
            auto first = co_await cancel_of(join(task));
            REQUIRE(first.has_value());
            CHECK(first->message() == "bye");
            CHECK(task.done());
            CHECK(task.cancelled());
            auto second = co_await cancel_of(join(task));  // every join sees it
            REQUIRE(second.has_value());
            CHECK(second->message() == "bye");
            auto from_result = result_cancel(task);
            REQUIRE(from_result.has_value());
            CHECK(from_result->message() == "bye");
            CHECK_THROWS_AS((void)task.exception(), CancelledError);

            // Catching it and throwing something else ends the task failed, not cancelled.
            auto other = spawn(catch_and_throw_other());
            co_await yield_now();
            other.cancel();
            bool runtime_error = false;
            try {
                co_await other;
            } catch (const std::runtime_error&) {
                runtime_error = true;
            }
            CHECK(runtime_error);
            CHECK_FALSE(other.cancelled());
            CHECK(other.exception() != nullptr);
        }());
    }

    TEST_CASE("3.5 a task cancelled before its body first ran ends cancelled without running it") {
        run_test([]() -> Task<void> {
            bool ran = false;
            auto task = spawn(set_flag_and_return(&ran, 1));
            CHECK(task.cancel("early"));
            auto error = co_await cancel_of(join(task));
            REQUIRE(error.has_value());
            CHECK(error->message() == "early");
            CHECK_FALSE(ran);
            CHECK(task.cancelled());
            CHECK(task.cancelling() == 1);
        }());
    }

    namespace {
    Task<void> cancel_all_from_inside(SleepRecord* child_record, std::size_t* asked,
                                      std::optional<CancelledError>* own) {
        auto child = spawn(sleep_and_record(child_record));
        co_await yield_now();
        *asked = Loop::current()->cancel_all("stopping");
        *own = co_await cancel_of(yield_once());
        co_await child;
    }
    Task<void> wait_for_sigint(bool* raised) {
        *raised = std::raise(SIGINT) == 0;
        co_await sleep(1h);
    }
    }  // namespace

    TEST_CASE("3.5 kind() tells user from timeout/shutdown/signal") {
        run_test([]() -> Task<void> {
            const CancelKind kinds[] = {CancelKind::user, CancelKind::timeout, CancelKind::parent,
                                        CancelKind::shutdown, CancelKind::signal};
            for (const CancelKind kind : kinds) {
                SleepRecord record;
                auto task = spawn(sleep_and_record(&record));
                co_await yield_now();
                task.cancel(std::string(to_string(kind)), kind);
                co_await task;
                CHECK(record.caught);
                CHECK(record.kind == kind);
                CHECK(record.message == to_string(kind));
            }
            // The default kind is user.
            SleepRecord plain;
            auto task = spawn(sleep_and_record(&plain));
            co_await yield_now();
            task.cancel();
            co_await task;
            CHECK(plain.kind == CancelKind::user);
            CHECK(plain.message.empty());
            // The kind survives into the error a join rethrows.
            auto escaping = spawn(sleep_forever());
            co_await yield_now();
            escaping.cancel("deadline", CancelKind::timeout);
            auto error = co_await cancel_of(join(escaping));
            REQUIRE(error.has_value());
            CHECK(error->kind() == CancelKind::timeout);
        }());

        // Loop::cancel_all asks as `shutdown`.
        SleepRecord child;
        std::size_t asked = 0;
        std::optional<CancelledError> own;
        run_test(cancel_all_from_inside(&child, &asked, &own));
        CHECK(asked == 2);
        REQUIRE(own.has_value());
        CHECK(own->kind() == CancelKind::shutdown);
        CHECK(own->message() == "stopping");
        CHECK(child.kind == CancelKind::shutdown);

        // SIGINT during run() cancels main as `signal`, message "SIGINT".
        bool raised = false;
        std::optional<CancelledError> sigint;
        try {
            run(wait_for_sigint(&raised));
        } catch (const CancelledError& e) {
            sigint = e;
        }
        CHECK(raised);
        REQUIRE(sigint.has_value());
        CHECK(sigint->kind() == CancelKind::signal);
        CHECK(sigint->message() == "SIGINT");
    }

    // ================================================================= 3.6

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

    namespace {
    Task<int> wait_for_release(const bool* release) {
        co_await yield_until(release);
        co_return 42;
    }
    Task<void> await_shielded(TaskHandle<int> target, std::optional<CancelledError>* error) {
        try {
            [[maybe_unused]] const int value = co_await shield(target);
        } catch (const CancelledError& e) {
            *error = e;
        }
    }
    Task<void> critical_section(bool* release, bool* finished) {
        co_await yield_until(release);
        *finished = true;
    }
    Task<void> await_shielded_task(bool* release, bool* finished,
                                   std::optional<CancelledError>* error) {
        try {
            co_await shield(critical_section(release, finished));
        } catch (const CancelledError& e) {
            *error = e;
        }
    }
    }  // namespace

    TEST_CASE(
        "3.6 shield(handle): the waiter gets CancelledError, the shielded task runs on and its "
        "result stays in the handle") {
        run_test([]() -> Task<void> {
            bool release = false;
            std::optional<CancelledError> error;
            auto target = spawn(wait_for_release(&release));
            auto waiter = spawn(await_shielded(target, &error));
            co_await yield_now();  // the waiter waits in shield()
            CHECK(waiter.cancel("waiter only"));
            co_await waiter;  // the waiter stops at once: the target has not finished
            REQUIRE(error.has_value());
            CHECK(error->message() == "waiter only");
            CHECK_FALSE(target.done());
            CHECK(target.cancelling() == 0);
            release = true;
            const int value = co_await target;
            CHECK(value == 42);
            CHECK(target.result() == 42);
            CHECK_FALSE(target.cancelled());
        }());
    }

    TEST_CASE(
        "3.6 shield(task) spawns the task and lets it finish after the waiter was cancelled") {
        run_test([]() -> Task<void> {
            bool release = false;
            bool finished = false;
            std::optional<CancelledError> error;
            auto waiter = spawn(await_shielded_task(&release, &finished, &error));
            co_await yield_now();  // the waiter spawns the critical task and waits in shield()
            waiter.cancel("go away");
            co_await waiter;
            REQUIRE(error.has_value());
            CHECK(error->message() == "go away");
            CHECK_FALSE(finished);
            release = true;
            co_await yield_until(&finished);
            CHECK(finished);
        }());
    }

    // ================================================================= 3.7

    namespace {
    struct HoldRecord {
        bool inside = false;
        bool sleep_completed = false;
        bool yield_completed = false;
        bool checkpoint_completed = false;
        bool nested_completed = false;
        bool after_hold = false;
        int cancelling_after_hold = -1;
        std::optional<CancelledError> delivered;
    };
    Task<void> nested_hold(HoldRecord* record) {
        co_await yield_now();
        record->nested_completed = true;
    }
    Task<void> critical_work(HoldRecord* record) {
        record->inside = true;
        co_await sleep(2ms);  // the cancel arrives while we sleep here
        record->sleep_completed = true;
        co_await yield_now();
        record->yield_completed = true;
        co_await checkpoint();
        record->checkpoint_completed = true;
        co_await non_cancellable(nested_hold(record));  // an inner hold ending releases nothing
        co_await yield_now();
    }
    Task<void> hold_then_continue(HoldRecord* record) {
        co_await non_cancellable(critical_work(record));
        record->after_hold = true;  // no suspension point yet: nothing thrown
        record->cancelling_after_hold = this_task::cancelling();
        record->delivered = co_await cancel_of(yield_once());
    }
    Task<int> hold_a_join(TaskHandle<int> target) {
        const int value = co_await non_cancellable(join(target));
        co_return value;
    }
    Task<int> sleep_then_return(int value) {
        co_await sleep(2ms);
        co_return value;
    }
    }  // namespace

    TEST_CASE(
        "3.7 non_cancellable holds requests back and delivers them at the first suspension "
        "point after") {
        run_test([]() -> Task<void> {
            HoldRecord record;
            auto task = spawn(hold_then_continue(&record));
            co_await yield_now();
            REQUIRE(record.inside);
            CHECK(task.cancel("held"));
            CHECK(task.cancel("held twice"));
            co_await task;
            CHECK(record.sleep_completed);
            CHECK(record.yield_completed);
            CHECK(record.checkpoint_completed);
            CHECK(record.nested_completed);
            CHECK(record.after_hold);
            CHECK(record.cancelling_after_hold == 2);
            REQUIRE(record.delivered.has_value());
            CHECK(record.delivered->message() == "held twice");
        }());
    }

    TEST_CASE("3.7 non_cancellable does not pass a cancel on to a task it awaits") {
        run_test([]() -> Task<void> {
            auto target = spawn(sleep_then_return(11));
            auto holder = spawn(hold_a_join(target));
            co_await yield_now();
            holder.cancel("later");
            auto error = co_await cancel_of(join(holder));
            CHECK_FALSE(target.cancelled());
            CHECK(target.cancelling() == 0);
            CHECK(target.result() == 11);
            // The holder returned the value right after its hold: no suspension point to deliver
            // at.
            CHECK_FALSE(error.has_value());
            CHECK(holder.result() == 11);
            CHECK(holder.cancelling() == 1);
        }());
    }

    namespace {
    struct CleanupRecord {
        bool body_started = false;
        bool cleanup_started = false;
        bool cleanup_sleep_completed = false;
        bool cleanup_finished = false;
        std::optional<CancelledError> rethrown;
        std::optional<CancelledError> next_suspension;
    };
    Task<int> cleanup_body(CleanupRecord* record) {
        record->body_started = true;
        co_await sleep(1h);
        co_return 1;
    }
    Task<void> cleanup(CleanupRecord* record) {
        record->cleanup_started = true;
        co_await sleep(2ms);  // a second cancel arrives here and does not interrupt it
        record->cleanup_sleep_completed = true;
        co_await yield_now();
        record->cleanup_finished = true;
    }
    Task<void> run_with_cleanup(CleanupRecord* record) {
        record->rethrown = co_await cancel_of(with_cleanup(cleanup_body(record), cleanup(record)));
        record->next_suspension = co_await cancel_of(yield_once());
    }
    Task<int> cleanup_noop(bool* ran) {
        *ran = true;
        co_return 0;
    }
    Task<void> note_cleanup(bool* ran) {
        *ran = true;
        co_return;
    }
    }  // namespace

    TEST_CASE(
        "3.7 with_cleanup runs cleanup non-cancellably after a cancelled body and rethrows "
        "CancelledError") {
        run_test([]() -> Task<void> {
            CleanupRecord record;
            auto task = spawn(run_with_cleanup(&record));
            co_await yield_now();
            REQUIRE(record.body_started);
            task.cancel("body");
            co_await yield_until(&record.cleanup_started);
            task.cancel("during cleanup");
            co_await task;
            CHECK(record.cleanup_sleep_completed);
            CHECK(record.cleanup_finished);
            REQUIRE(record.rethrown.has_value());
            CHECK(record.rethrown->message() == "body");
            REQUIRE(record.next_suspension.has_value());
            CHECK(record.next_suspension->message() == "during cleanup");

            // Without a cancel: the body's value, after the cleanup ran.
            bool body_ran = false;
            bool cleanup_ran = false;
            const int value =
                co_await with_cleanup(cleanup_noop(&body_ran), note_cleanup(&cleanup_ran));
            CHECK(value == 0);
            CHECK(body_ran);
            CHECK(cleanup_ran);
        }());
    }

    // ================================================================= 3.8

    namespace {
    Task<void> append_three_times(std::vector<int>* order, int id) {
        for (int i = 0; i < 3; ++i) {
            order->push_back(id);
            co_await yield_now();
        }
    }
    Task<void> set_after_sleep(bool* flag) {
        co_await sleep(1ms);
        *flag = true;
    }
    struct YieldCancelRecord {
        TaskHandle<void>* self = nullptr;
        const bool* other_ran = nullptr;
        bool other_ran_before_throw = true;
        bool threw = false;
    };
    Task<void> cancel_self_then_yield(YieldCancelRecord* record) {
        record->self->cancel("pending");
        try {
            co_await yield_now();
        } catch (const CancelledError&) {
            record->threw = true;
            record->other_ran_before_throw = *record->other_ran;
        }
    }
    }  // namespace

    TEST_CASE("3.8 yield_now goes behind every ready task") {
        run_test([]() -> Task<void> {
            std::vector<int> order;
            auto a = spawn(append_three_times(&order, 1));
            auto b = spawn(append_three_times(&order, 2));
            auto c = spawn(append_three_times(&order, 3));
            co_await a;
            co_await b;
            co_await c;
            CHECK(order == std::vector<int>{1, 2, 3, 1, 2, 3, 1, 2, 3});
        }());
    }

    TEST_CASE("3.8 a task yielding in a loop still lets a due timer fire") {
        run_test([]() -> Task<void> {
            bool fired = false;
            auto sleeper = spawn(set_after_sleep(&fired));
            // Only the timer can end this loop; a loop that never returned to libuv would spin
            // until the bound (minutes) and fail.
            const auto give_up = Clock::now() + 60s;
            while (!fired && Clock::now() < give_up) {
                co_await yield_now();
            }
            CHECK(fired);
            co_await sleeper;
        }());
    }

    TEST_CASE("3.8 yield_now throws a pending cancel at once") {
        run_test([]() -> Task<void> {
            bool other_ran = false;
            YieldCancelRecord record;
            record.other_ran = &other_ran;
            TaskHandle<void> handle = spawn(cancel_self_then_yield(&record));
            record.self = &handle;
            auto other = spawn(set_flag(&other_ran));  // ready behind it
            co_await handle;
            co_await other;
            CHECK(record.threw);
            CHECK_FALSE(record.other_ran_before_throw);  // thrown without suspending
        }());
    }

    namespace {
    struct CheckpointRecord {
        TaskHandle<void>* self = nullptr;
        const bool* other_ran = nullptr;
        bool other_ran_across_checkpoints = true;
        bool other_ran_before_throw = true;
        bool threw = false;
        std::string message;
    };
    Task<void> checkpoints_in_long_slice(CheckpointRecord* record) {
        for (int i = 0; i < 1000; ++i) {
            co_await checkpoint();
        }
        record->other_ran_across_checkpoints = *record->other_ran;
        // A task made ready just now must not run before the pending cancel is thrown (a fresh
        // one: with checkpoint_always_yields the first one ran during the loop above).
        bool late_ran = false;
        auto late = spawn(set_flag(&late_ran));
        record->self->cancel("checkpoint");
        try {
            co_await checkpoint();
        } catch (const CancelledError& e) {
            record->threw = true;
            record->message = e.message();
            record->other_ran_before_throw = late_ran;
        }
        co_await late;
    }
    Task<void> checkpoint_after_spinning(std::chrono::microseconds spin, const bool* other_ran,
                                         bool* yielded) {
        block_thread_for(spin);
        co_await checkpoint();
        *yielded = *other_ran;
    }
    }  // namespace

    TEST_CASE(
        "3.8 checkpoint throws a pending cancel and does not yield when the slice has not run "
        "out") {
        run_test([]() -> Task<void> {
            Loop::current()->set_time_slice(1h);
            bool other_ran = false;
            CheckpointRecord record;
            record.other_ran = &other_ran;
            TaskHandle<void> handle = spawn(checkpoints_in_long_slice(&record));
            record.self = &handle;
            auto other = spawn(set_flag(&other_ran));
            co_await handle;
            co_await other;
            CHECK(record.threw);
            CHECK(record.message == "checkpoint");
            CHECK_FALSE(record.other_ran_before_throw);
#ifndef UVTASK_CHECKPOINT_ALWAYS_YIELDS
            CHECK_FALSE(record.other_ran_across_checkpoints);
#endif
        }());
    }

    TEST_CASE("3.8 checkpoint yields once the time slice has run out") {
        run_test([]() -> Task<void> {
            // A zero slice: every checkpoint yields.
            Loop::current()->set_time_slice(0ns);
            bool other_ran = false;
            bool yielded = false;
            auto spinner = spawn(checkpoint_after_spinning(0us, &other_ran, &yielded));
            auto other = spawn(set_flag(&other_ran));
            co_await spinner;
            co_await other;
            CHECK(yielded);

            // A 1 ms slice, and 3 ms of work since the task was resumed before its first
            // checkpoint: the slice has run out, so that checkpoint yields.
            Loop::current()->set_time_slice(1ms);
            bool other_ran2 = false;
            bool yielded2 = false;
            auto spinner2 = spawn(checkpoint_after_spinning(3000us, &other_ran2, &yielded2));
            auto other2 = spawn(set_flag(&other_ran2));
            co_await spinner2;
            co_await other2;
            CHECK(yielded2);
        }());
    }

    // ================================================================= 3.9

    namespace {
    struct NoSuspendRecord {
        TaskHandle<void>* self = nullptr;
        bool requested_before = true;
        bool token_before = true;
        bool requested_after_cancel = false;
        bool token_after_cancel = false;
        bool callback_ran = false;
        bool requested_after_delivery = true;
        bool token_after_delivery = false;
        bool late_token_requested = false;
        bool delivered = false;
    };
    Task<void> observe_without_suspending(NoSuspendRecord* record) {
        std::stop_token token = this_task::stop_token();
        std::stop_callback callback(token, [record]() noexcept { record->callback_ran = true; });
        record->requested_before = this_task::cancel_requested();
        record->token_before = token.stop_requested();
        record->self->cancel("see me");
        // Code that cannot suspend sees the request at once.
        record->requested_after_cancel = this_task::cancel_requested();
        record->token_after_cancel = token.stop_requested();
        record->late_token_requested = this_task::stop_token().stop_requested();
        auto error = co_await cancel_of(yield_once());
        record->delivered = error.has_value();
        // Delivered: no request is pending any more, but a stop token cannot be reset.
        record->requested_after_delivery = this_task::cancel_requested();
        record->token_after_delivery = token.stop_requested();
    }
    }  // namespace

    TEST_CASE(
        "3.9 this_task::cancel_requested and stop_token see the request from code that cannot "
        "suspend") {
        run_test([]() -> Task<void> {
            NoSuspendRecord record;
            TaskHandle<void> handle = spawn(observe_without_suspending(&record));
            record.self = &handle;
            co_await handle;
            CHECK_FALSE(record.requested_before);
            CHECK_FALSE(record.token_before);
            CHECK(record.requested_after_cancel);
            CHECK(record.token_after_cancel);
            CHECK(record.callback_ran);
            CHECK(record.late_token_requested);
            CHECK(record.delivered);
            CHECK_FALSE(record.requested_after_delivery);
            CHECK(record.token_after_delivery);
        }());
    }

    TEST_CASE(
        "3.9 outside a task cancel_requested() is false and stop_token() is an "
        "InvalidStateError") {
        CHECK_FALSE(this_task::cancel_requested());
        CHECK_THROWS_AS((void)this_task::stop_token(), InvalidStateError);
    }

    // ================================================================= 3.10

    namespace {
    struct RemoteSleepRecord {
        bool asleep = false;
        std::optional<CancelledError> error;
    };
    Task<void> sleep_until_cancelled(RemoteSleepRecord* record) {
        record->asleep = true;
        record->error = co_await cancel_of(sleep_forever());
    }
    struct RemoteSpinRecord {
        std::atomic<bool> spinning{false};
        bool saw_request = false;
        std::optional<CancelledError> error;
        std::stop_token token;
    };
    Task<void> checkpoint_loop_until_cancelled(RemoteSpinRecord* record) {
        // Bounded, so a broken runtime fails instead of spinning forever (the loop cannot run its
        // watchdog while this task holds the thread: with a 1 h slice checkpoint never yields).
        const auto give_up = Clock::now() + 60s;
        record->spinning.store(true);
        try {
            while (Clock::now() < give_up) {
                co_await checkpoint();
            }
        } catch (const CancelledError& e) {
            record->error = e;
        }
    }
    Task<void> spin_on_flag_until_cancelled(RemoteSpinRecord* record) {
        record->token = this_task::stop_token();
        const auto give_up = Clock::now() + 60s;
        record->spinning.store(true);
        // cancel() sets the flag, then requests the stop token: wait for both, never suspending.
        while (!(this_task::cancel_requested() && record->token.stop_requested()) &&
               Clock::now() < give_up) {
        }
        record->saw_request = this_task::cancel_requested() && record->token.stop_requested();
        record->error = co_await cancel_of(yield_once());
    }
    }  // namespace

    TEST_CASE("3.10 cancel() from another thread wakes a sleeping task and a checkpoint loop") {
        run_test([]() -> Task<void> {
            // A sleeping task: the loop is woken (uv_async_t) and the timer stopped.
            RemoteSleepRecord sleeping;
            auto sleeper = spawn(sleep_until_cancelled(&sleeping));
            co_await yield_now();
            REQUIRE(sleeping.asleep);
            bool sleeper_cancel_returned = false;
            std::thread remote([sleeper, &sleeper_cancel_returned] {
                sleeper_cancel_returned = sleeper.cancel("from afar");
            });
            co_await sleeper;
            remote.join();
            CHECK(sleeper_cancel_returned);
            REQUIRE(sleeping.error.has_value());
            CHECK(sleeping.error->message() == "from afar");

            // A checkpoint loop that never yields (1 h slice): it sees the flag itself.
            Loop::current()->set_time_slice(1h);
            RemoteSpinRecord spinning;
            auto spinner = spawn(checkpoint_loop_until_cancelled(&spinning));
            std::thread canceller([spinner, &spinning] {
                while (!spinning.spinning.load()) {
                    std::this_thread::yield();
                }
                spinner.cancel("stop spinning", CancelKind::signal);
            });
            co_await spinner;
            canceller.join();
            REQUIRE(spinning.error.has_value());
            CHECK(spinning.error->message() == "stop spinning");
            CHECK(spinning.error->kind() == CancelKind::signal);
            CHECK(spinner.cancelling() == 1);
        }());
    }

    TEST_CASE("3.10 cancel() from another thread sets the request flag at once, without the loop") {
        run_test([]() -> Task<void> {
            RemoteSpinRecord record;
            auto spinner = spawn(spin_on_flag_until_cancelled(&record));
            std::thread canceller([spinner, &record] {
                while (!record.spinning.load()) {
                    std::this_thread::yield();
                }
                spinner.cancel("flag");
            });
            co_await spinner;
            canceller.join();
            CHECK(record.saw_request);
            REQUIRE(record.error.has_value());
            CHECK(record.error->message() == "flag");
        }());
    }

}  // TEST_SUITE
