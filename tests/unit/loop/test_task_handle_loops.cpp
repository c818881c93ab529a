// co_await on a TaskHandle of another loop (docs/semantics.md §3.6, "across loops"): the result,
// the exception or CancelledError delivered on the awaiter's own loop thread; a cancel of the
// awaiter passed on across loops; shield; a handle whose loop has ended; a cycle of joins
// through two loops; the awaited task ending while the awaiter is cancelled (seeded, repeated).
#include <uvtask/task_handle.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "loop_thread.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::cancel_of;
using uvtask::testing::join;
using uvtask::testing::LoopThread;
using uvtask::testing::run_test;
using uvtask::testing::spin_for;
using uvtask::testing::yield_once;

namespace {

/// Yields on its own loop until `flag` is set (by another thread).
Task<void> yield_until_set(const std::atomic<bool>* flag) {
    while (!flag->load()) {
        co_await yield_now();
    }
}

struct FarRecord {
    std::atomic<bool> started{false};  // the body runs (a cancel now reaches it, not its start)
    std::thread::id ran_on;
    std::optional<CancelledError> got;  // the cancel the far task received, if any
};

/// Records its thread, waits until `release` is set (or a cancel), then returns `value`; a
/// cancel is recorded and rethrown unless `refuse`.
Task<int> far_task(FarRecord* record, const std::atomic<bool>* release, int value,
                   bool refuse = false) {
    record->ran_on = std::this_thread::get_id();
    record->started.store(true);
    try {
        co_await yield_until_set(release);
    } catch (const CancelledError& e) {
        record->got = e;
        if (!refuse) {
            throw;
        }
    }
    co_return value;
}

Task<int> far_failure() {
    co_await yield_now();
    throw std::runtime_error("far failure");
}

}  // namespace

TEST_SUITE("task_handle") {
    TEST_CASE("a join of a task on another loop delivers its result on the awaiter's thread") {
        LoopThread far;
        FarRecord record;
        std::atomic<bool> release{false};
        auto target = spawn_on(far.loop(), far_task(&record, &release, 42), "far");
        std::thread::id resumed_on;
        int got = 0;
        run_test([](TaskHandle<int> t, std::atomic<bool>* go, std::thread::id* on,
                    int* out) -> Task<void> {
            go->store(true);
            const int value = co_await t;
            *on = std::this_thread::get_id();
            *out = value;
        }(target, &release, &resumed_on, &got));
        CHECK(got == 42);
        CHECK(resumed_on == std::this_thread::get_id());
        CHECK(record.ran_on == far.id());
        far.stop();
    }

    TEST_CASE("a join rethrows the exception of a task on another loop, on the awaiter's thread") {
        LoopThread far;
        auto target = spawn_on(far.loop(), far_failure(), "far-failing");
        std::string what;
        run_test([](TaskHandle<int> t, std::string* out) -> Task<void> {
            try {
                (void)co_await t;
            } catch (const std::runtime_error& e) {
                *out = e.what();
            }
        }(target, &what));
        CHECK(what == "far failure");
        far.stop();
    }

    TEST_CASE("cancelling a task that awaits a task of another loop cancels that task too") {
        LoopThread far;
        FarRecord record;
        std::atomic<bool> never{false};
        auto target = spawn_on(far.loop(), far_task(&record, &never, 1), "far-waiting");
        std::optional<CancelledError> waiter_got;
        run_test(
            [](TaskHandle<int> t, FarRecord* r, std::optional<CancelledError>* out) -> Task<void> {
                co_await yield_until_set(&r->started);
                auto waiter = spawn(join(t), "waiter");
                co_await yield_now();  // the waiter ran first (FIFO): it waits in the join now
                CHECK(waiter.cancel("stop here", CancelKind::user));
                *out = co_await cancel_of(join(waiter));
                CHECK(waiter.cancelled());
            }(target, &record, &waiter_got));
        REQUIRE(waiter_got.has_value());
        CHECK(waiter_got->message() == "stop here");
        REQUIRE(record.got.has_value());  // the far task got the request, on its own loop
        CHECK(record.got->message() == "stop here");
        CHECK(record.got->kind() == CancelKind::user);
        CHECK(target.cancelled());
        far.stop();
    }

    TEST_CASE(
        "if a task of another loop refuses the passed-on cancel, the waiter gets its result and "
        "the cancel at its next suspension point") {
        LoopThread far;
        FarRecord record;
        std::atomic<bool> never{false};
        auto target = spawn_on(far.loop(), far_task(&record, &never, 9, /*refuse=*/true), "far");
        run_test([](TaskHandle<int> t, FarRecord* r) -> Task<void> {
            co_await yield_until_set(&r->started);
            bool yield_threw = false;
            auto waiter = spawn(
                [](TaskHandle<int> target, bool* threw) -> Task<int> {
                    const int value = co_await target;
                    auto error = co_await cancel_of(yield_once());
                    *threw = error.has_value();
                    co_return value;
                }(t, &yield_threw),
                "waiter");
            co_await yield_now();
            CHECK(waiter.cancel("refused far away"));
            const int value = co_await waiter;
            CHECK(value == 9);
            CHECK(yield_threw);
        }(target, &record));
        REQUIRE(record.got.has_value());
        CHECK(target.result() == 9);
        far.stop();
    }

    TEST_CASE(
        "shield(handle) of a task on another loop: the waiter gets CancelledError, the task runs "
        "on and its result stays in the handle") {
        LoopThread far;
        FarRecord record;
        std::atomic<bool> release{false};
        auto target = spawn_on(far.loop(), far_task(&record, &release, 5), "far-shielded");
        run_test([](TaskHandle<int> t, std::atomic<bool>* go) -> Task<void> {
            auto waiter = spawn(
                [](TaskHandle<int> target) -> Task<int> { co_return co_await shield(target); }(t),
                "shielded-waiter");
            co_await yield_now();
            CHECK(waiter.cancel("not you"));
            auto error = co_await cancel_of(join(waiter));
            CHECK(error.has_value());
            CHECK_FALSE(t.done());  // the waiter stopped at once, the far task still waits
            CHECK(t.cancelling() == 0);
            go->store(true);
            const int value = co_await t;
            CHECK(value == 5);
        }(target, &release));
        CHECK_FALSE(record.got.has_value());
        far.stop();
    }

    TEST_CASE("a handle whose loop has ended is done, and a join reads its result at once") {
        TaskHandle<int> target;
        {
            LoopThread far;
            std::atomic<bool> release{true};
            FarRecord record;
            target = spawn_on(far.loop(), far_task(&record, &release, 11), "ended-loop");
            while (!target.done()) {
                std::this_thread::yield();
            }
        }  // the loop ends, its thread is joined
        int got = 0;
        run_test(
            [](TaskHandle<int> t, int* out) -> Task<void> { *out = co_await t; }(target, &got));
        CHECK(got == 11);
    }

    TEST_CASE(
        "a waiter on a task whose loop is destroyed with the task pending gets CancelledError, "
        "kind shutdown") {
        std::atomic<bool> published{false};
        std::atomic<bool> waiting{false};
        TaskHandle<int> target;
        std::thread other([&] {
            Loop loop;
            loop.set_exception_handler([](const ExceptionContext&) {});  // "destroyed pending"
            std::atomic<bool> never{false};
            FarRecord record;
            target = spawn(far_task(&record, &never, 1), "destroyed-with-its-loop");
            published.store(true);
            while (!waiting.load()) {
                uv_run(loop.native(), UV_RUN_NOWAIT);
            }
        });  // ~Loop destroys the pending task
        while (!published.load()) {
            std::this_thread::yield();
        }
        std::optional<CancelledError> got;
        run_test([](TaskHandle<int> t, std::atomic<bool>* parked,
                    std::optional<CancelledError>* out) -> Task<void> {
            auto waiter = spawn(join(t), "waiter");
            co_await yield_now();  // the waiter waits in the join now
            parked->store(true);
            *out = co_await cancel_of(join(waiter));
        }(target, &waiting, &got));
        other.join();
        REQUIRE(got.has_value());
        CHECK(got->kind() == CancelKind::shutdown);
        CHECK(target.cancelled());
    }

    TEST_CASE(
        "tasks on two loops awaiting each other in a cycle end cancelled when one is cancelled") {
        LoopThread far;
        run_test([](Loop* far_loop) -> Task<void> {
            TaskHandle<void> b;
            std::atomic<bool> b_joining{false};
            auto a = spawn([](TaskHandle<void>* other) -> Task<void> { co_await *other; }(&b), "a");
            b = spawn_on(
                *far_loop,
                [](TaskHandle<void> other, std::atomic<bool>* joining) -> Task<void> {
                    joining->store(true);
                    co_await other;
                }(a, &b_joining),
                "b");
            while (!b_joining.load()) {
                co_await yield_now();
            }
            CHECK(a.cancel("break the cycle"));
            auto a_error = co_await cancel_of(join(a));
            auto b_error = co_await cancel_of(join(b));
            CHECK(a_error.has_value());
            CHECK(b_error.has_value());
            CHECK(a.cancelled());
            CHECK(b.cancelled());
        }(&far.loop()));
        far.stop();
    }

    TEST_CASE(
        "a task of another loop ending while its waiter is cancelled: the waiter gets its value or "
        "CancelledError, exactly once, with or without shield (seeded, repeated)") {
        LoopThread far;
        const std::uint32_t seed = 20261202;
        CAPTURE(seed);
        std::mt19937 random(seed);
        for (int round = 0; round < 300; ++round) {
            CAPTURE(round);
            const bool shielded = (round % 2) == 1;
            const std::uint64_t far_delay = random() % 20'000;   // ns
            const std::uint64_t near_delay = random() % 20'000;  // ns
            FarRecord record;
            std::atomic<bool> release{false};
            auto target = spawn_on(
                far.loop(),
                [](FarRecord* r, std::atomic<bool>* go, std::uint64_t delay, int v) -> Task<int> {
                    r->ran_on = std::this_thread::get_id();
                    co_await yield_until_set(go);
                    spin_for(delay);
                    co_return v;
                }(&record, &release, far_delay, round),
                "far");
            run_test([](TaskHandle<int> t, std::atomic<bool>* go, bool shield_it,
                        std::uint64_t delay, int expected) -> Task<void> {
                auto waiter = spawn(
                    [](TaskHandle<int> target, bool s) -> Task<int> {
                        if (s) {
                            co_return co_await shield(target);
                        }
                        co_return co_await target;
                    }(t, shield_it),
                    "waiter");
                co_await yield_now();  // the waiter waits in the join now
                go->store(true);
                spin_for(delay);
                (void)waiter.cancel("race");
                auto error = co_await cancel_of(join(waiter));
                if (!error.has_value()) {
                    CHECK(waiter.result() == expected);
                    CHECK(t.result() == expected);  // it ended with its value: the join has it
                } else if (shield_it) {
                    const int value = co_await t;  // shielded: it runs on to its value
                    CHECK(value == expected);
                } else {
                    // The cancel was passed on: the far task ended cancelled or with its value
                    // (it did not see the cancel before it ended); either way it has ended.
                    auto far_error = co_await cancel_of(join(t));
                    CHECK((far_error.has_value() || t.result() == expected));
                }
                CHECK(t.done());
            }(target, &release, shielded, near_delay, round));
        }
        far.stop();
    }

    TEST_CASE("run() waits for a task of another loop that its main task awaits: no deadlock") {
        LoopThread far;
        std::atomic<bool> release{false};
        std::atomic<bool> joining{false};
        FarRecord record;
        auto target = spawn_on(far.loop(), far_task(&record, &release, 3), "far");
        int got = 0;
        std::thread runner([&] {
            got = run([](TaskHandle<int> t, std::atomic<bool>* about_to_wait) -> Task<int> {
                about_to_wait->store(true);
                const int value = co_await t;
                co_return value;
            }(target, &joining));
        });
        while (!joining.load()) {
            std::this_thread::yield();
        }
        // Gives run() time to find its loop without work (a deadlock it would report at once
        // if the join did not hold the loop open); the result never depends on it.
        spin_for(20'000'000);
        release.store(true);
        runner.join();
        CHECK(got == 3);
        far.stop();
    }
}
