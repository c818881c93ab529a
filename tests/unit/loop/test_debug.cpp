// Seeing cancellation: Loop::tasks()/dump_tasks(), the SIGUSR1 dump, the slow-step detector, the
// swallowed-cancel report, the cancel-latency statistics.
#include <uvtask/debug.hpp>

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;

namespace {

const TaskInfo* find(const std::vector<TaskInfo>& infos, const std::string& name) {
    for (const TaskInfo& info : infos) {
        if (info.name == name) {
            return &info;
        }
    }
    return nullptr;
}

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

void busy_spin(std::chrono::milliseconds length) {
    const auto end = std::chrono::steady_clock::now() + length;
    while (std::chrono::steady_clock::now() < end) {
    }
}

Task<void> sleep_long() { co_await sleep(10s); }

Task<void> join_it(TaskHandle<void>* target) { co_await *target; }

Task<void> lock_it(Lock* lock) {
    co_await lock->lock();
    lock->unlock();
}

/// An operation that never completes until it is stopped.
class Parked : public Operation<void> {
    void start() override {}
    void stop() noexcept override { cancelled(); }
};

class NamedQuery final : public Parked {
public:
    [[nodiscard]] std::string describe() const override { return "query 42 on db 'orders'"; }
};

template <class Op>
Task<void> await_op() {
    Op op;
    co_await op;
}

/// Lets every spawned task take its first step (each ends its step suspended).
Task<void> settle_turns(int turns = 3) {
    for (int i = 0; i < turns; ++i) {
        co_await yield_now();
    }
}

Task<int> swallow_thrown(bool* reached) {
    try {
        *reached = true;
        co_await sleep(10s);
    } catch (const CancelledError&) {
        // swallowed: neither re-raised nor uncancel()ed
    }
    co_return 7;
}

Task<int> swallow_outcome(bool* reached) {
    *reached = true;
    Outcome<void> slept = co_await nothrow(sleep(10s));
    CHECK(slept.is_cancelled());
    co_return 7;
}

Task<int> refuse_with_uncancel(bool* reached) {
    try {
        *reached = true;
        co_await sleep(10s);
    } catch (const CancelledError&) {
        this_task::uncancel();  // a decision, not an accident
    }
    co_return 7;
}

Task<void> reraise(bool* reached) {
    *reached = true;
    co_await sleep(10s);
}

Task<int> sleep_long_then(int value) {
    co_await sleep(10s);
    co_return value;
}

Task<int> deadline_then_value(bool* reached) {
    *reached = true;
    const std::optional<int> completed = co_await move_on_after(1ms, sleep_long_then(1));
    CHECK_FALSE(completed.has_value());
    co_return 7;
}

template <class T>
Task<void> cancel_once_suspended(Task<T> body_of, bool* reached, const char* name) {
    TaskHandle<T> handle = spawn(std::move(body_of), name);
    while (!*reached) {
        co_await yield_now();
    }
    co_await yield_now();  // now suspended in its sleep
    handle.cancel("stop");
    [[maybe_unused]] Outcome<T> ended = co_await nothrow(handle);
}

std::vector<ExceptionContext> reports_named(const std::vector<ExceptionContext>& reports,
                                            const std::string& task, const std::string& part) {
    std::vector<ExceptionContext> out;
    for (const ExceptionContext& report : reports) {
        if (report.task_name == task && has(report.message, part)) {
            out.push_back(report);
        }
    }
    return out;
}

Task<void> spin_between_yields(std::chrono::milliseconds length) {
    co_await yield_now();
    busy_spin(length);
    co_await yield_now();
}

Task<void> spin_then_end(std::chrono::milliseconds length) {
    co_await sleep(0ms);
    busy_spin(length);
}

Task<void> cleanup_spin(std::chrono::milliseconds length, bool* reached) {
    try {
        *reached = true;
        co_await sleep(10s);
    } catch (const CancelledError&) {
        busy_spin(length);
        throw;
    }
}

Task<void> wait_then_spin(Event* go, std::chrono::milliseconds length) {
    co_await go->wait();
    busy_spin(length);
}

Task<void> late_delivery(Event* go, std::chrono::milliseconds hold, bool* reached) {
    *reached = true;
    co_await non_cancellable(wait_then_spin(go, hold));  // the cancel waits for the next point
    co_await sleep(10s);
}

}  // namespace

TEST_SUITE("debug") {
    TEST_CASE(
        "tasks() lists every live task with its state, what it waits on, and who spawned "
        "it") {
        run_test([]() -> Task<void> {
            Lock lock;
            REQUIRE(lock.try_lock());
            TaskHandle<void> sleeper = spawn(sleep_long(), "sleeper");
            TaskHandle<void> joiner = spawn(join_it(&sleeper), "joiner");
            TaskHandle<void> locker = spawn(lock_it(&lock), "locker");
            co_await settle_turns();
            TaskHandle<void> fresh = spawn(sleep_long(), "fresh");
            fresh.cancel("before its first turn");

            const std::vector<TaskInfo> infos = Loop::current()->tasks();
            REQUIRE(infos.size() == 5);
            CHECK(infos[0].name == "test");  // in the order the loop took them in
            CHECK(infos[0].state == TaskInfo::State::running);
            CHECK(infos[0].waiting_on.empty());

            const TaskInfo* s = find(infos, "sleeper");
            REQUIRE(s != nullptr);
            CHECK(s->state == TaskInfo::State::suspended);
            CHECK(has(s->waiting_on, "sleep ("));
            CHECK(has(s->waiting_on, "ms left)"));
            CHECK(s->parent_id == infos[0].id);
            CHECK(s->parent_name == "test");
            CHECK(s->cancelling == 0);

            const TaskInfo* j = find(infos, "joiner");
            REQUIRE(j != nullptr);
            CHECK(j->state == TaskInfo::State::suspended);
            CHECK(j->waiting_on == "join of task 'sleeper'");

            const TaskInfo* l = find(infos, "locker");
            REQUIRE(l != nullptr);
            CHECK(l->waiting_on == "Lock::lock() (waiter 1 of 1)");

            const TaskInfo* f = find(infos, "fresh");
            REQUIRE(f != nullptr);
            CHECK(f->state == TaskInfo::State::ready);
            CHECK(f->waiting_on == "(not started)");
            CHECK(f->cancelling == 1);
            CHECK(f->cancel_pending);

            lock.unlock();
            sleeper.cancel();
            [[maybe_unused]] auto ended1 = co_await nothrow(joiner);
            co_await locker;
            [[maybe_unused]] auto ended2 = co_await nothrow(fresh);
            CHECK(Loop::current()->tasks().size() == 1);
        }());
    }

    TEST_CASE("a child of a task group, gather or race names its scope and the task it runs in") {
        run_test([]() -> Task<void> {
            co_await task_group([](TaskGroup& group) -> Task<void> {
                TaskHandle<void> grouped = group.spawn(sleep_long(), "grouped");
                TaskHandle<void> outside = spawn(sleep_long(), "outside");
                auto gathered = spawn(
                    []() -> Task<void> {
                        co_await gather(spawn(sleep_long(), "gathered"));
                    }(),
                    "gatherer");
                auto racer = spawn(
                    []() -> Task<void> {
                        co_await race(spawn(sleep_long(), "raced"), spawn(sleep_long()));
                    }(),
                    "racer");
                co_await settle_turns(3);
                const std::vector<TaskInfo> infos = Loop::current()->tasks();
                const std::string main_id = std::to_string(infos[0].id);
                REQUIRE(find(infos, "grouped") != nullptr);
                CHECK(find(infos, "grouped")->scope == "task group of #" + main_id + " 'test'");
                REQUIRE(find(infos, "outside") != nullptr);
                CHECK(find(infos, "outside")->scope.empty());  // spawned inside, not a child
                REQUIRE(find(infos, "gathered") != nullptr);
                CHECK(has(find(infos, "gathered")->scope, "gather of #"));
                CHECK(has(find(infos, "gathered")->scope, " 'gatherer'"));
                REQUIRE(find(infos, "raced") != nullptr);
                CHECK(has(find(infos, "raced")->scope, " 'racer'"));
                CHECK(has(find(infos, "raced")->scope, "race of #"));
                std::ostringstream out;
                Loop::current()->dump_tasks(out);
                CHECK(has(out.str(), ", in task group of #" + main_id + " 'test'\n"));
                outside.cancel();
                gathered.cancel();
                racer.cancel();
                [[maybe_unused]] auto e1 = co_await nothrow(outside);
                [[maybe_unused]] auto e2 = co_await nothrow(gathered);
                [[maybe_unused]] auto e3 = co_await nothrow(racer);
                grouped.cancel();  // a child cancelled by itself: not a failure of the group
            });
        }());
    }

    TEST_CASE("a wait on a primitive names its place in the line") {
        run_test([]() -> Task<void> {
            uvtask::testing::assume_fifo_schedule();  // the places follow the spawn order
            Lock lock;
            REQUIRE(lock.try_lock());
            Queue<int> queue(1);
            TaskHandle<void> first = spawn(lock_it(&lock), "first");
            TaskHandle<void> second = spawn(lock_it(&lock), "second");
            TaskHandle<int> popper = spawn(
                [](Queue<int>* q) -> Task<int> { co_return co_await q->pop(); }(&queue), "popper");
            co_await settle_turns();
            std::vector<TaskInfo> infos = Loop::current()->tasks();
            REQUIRE(find(infos, "first") != nullptr);
            CHECK(find(infos, "first")->waiting_on == "Lock::lock() (waiter 1 of 2)");
            REQUIRE(find(infos, "second") != nullptr);
            CHECK(find(infos, "second")->waiting_on == "Lock::lock() (waiter 2 of 2)");
            REQUIRE(find(infos, "popper") != nullptr);
            CHECK(find(infos, "popper")->waiting_on == "Queue::pop() (waiter 1 of 1)");
            first.cancel();  // the line moves up
            co_await settle_turns();
            infos = Loop::current()->tasks();
            REQUIRE(find(infos, "second") != nullptr);
            CHECK(find(infos, "second")->waiting_on == "Lock::lock() (waiter 1 of 1)");
            lock.unlock();
            co_await second;
            [[maybe_unused]] auto ended = co_await nothrow(first);
            co_await queue.push(7);
            CHECK(co_await popper == 7);
        }());
    }

    TEST_CASE("a yielding task is listed as ready, waiting on yield_now()") {
        run_test([]() -> Task<void> {
            TaskHandle<void> yielder = spawn(settle_turns(2), "yielder");
            co_await yield_now();  // yielder has yielded once: it is queued again
            const std::vector<TaskInfo> infos = Loop::current()->tasks();
            const TaskInfo* y = find(infos, "yielder");
            REQUIRE(y != nullptr);
            CHECK(y->state == TaskInfo::State::ready);
            CHECK(y->waiting_on == "yield_now()");
            co_await yielder;
        }());
    }

    TEST_CASE(
        "a user-written Operation names what it waits on through describe(), by default "
        "its type") {
        run_test([]() -> Task<void> {
            TaskHandle<void> named = spawn(await_op<NamedQuery>(), "named");
            TaskHandle<void> plain = spawn(await_op<Parked>(), "plain");
            co_await settle_turns();
            const std::vector<TaskInfo> infos = Loop::current()->tasks();
            REQUIRE(find(infos, "named") != nullptr);
            CHECK(find(infos, "named")->waiting_on == "operation query 42 on db 'orders'");
            REQUIRE(find(infos, "plain") != nullptr);
            CHECK(has(find(infos, "plain")->waiting_on, "operation "));
            CHECK(has(find(infos, "plain")->waiting_on, "Parked"));
            named.cancel();
            plain.cancel();
            [[maybe_unused]] auto ended3 = co_await nothrow(named);
            [[maybe_unused]] auto ended4 = co_await nothrow(plain);
        }());
    }

    TEST_CASE(
        "dump_tasks prints one line per task: id, name, state, wait, age, cancelling, "
        "parent") {
        run_test([]() -> Task<void> {
            TaskHandle<void> sleeper = spawn(sleep_long(), "sleeper");
            TaskHandle<void> joiner = spawn(join_it(&sleeper), "joiner");
            co_await settle_turns();
            std::ostringstream before;
            Loop::current()->dump_tasks(before);
            CHECK(has(before.str(), "'sleeper' suspended on sleep ("));
            joiner.cancel("enough");  // passed on to the sleeper: both are cancelling
            std::ostringstream out;
            Loop::current()->dump_tasks(out);
            const std::string text = out.str();
            CHECK(has(text, "uvtask: 3 live tasks\n"));
            CHECK(has(text, "'test' running, age "));
            CHECK(has(text, "'sleeper' ready, age "));  // woken by the cancel, not yet run
            CHECK(has(text, "'joiner' suspended on join of task 'sleeper', age "));
            CHECK(has(text, "cancelling 1 (pending delivery), spawned by #"));
            CHECK(has(text, "spawned by #" + std::to_string(Loop::current()->tasks()[0].id) +
                                " 'test'\n"));
            [[maybe_unused]] auto ended5 = co_await nothrow(joiner);
        }());
    }

    TEST_CASE("SIGUSR1 prints the task dump to stderr once it is turned on") {
        char path[] = "/tmp/uvtask_sigusr1_XXXXXX";
        const int capture = mkstemp(path);
        REQUIRE(capture >= 0);
        const int saved = dup(STDERR_FILENO);
        REQUIRE(saved >= 0);
        std::fflush(stderr);
        REQUIRE(dup2(capture, STDERR_FILENO) >= 0);
        std::string seen;
        run_test([](const char* file, std::string* text) -> Task<void> {
            Loop::current()->set_dump_tasks_on_sigusr1(true);
            TaskHandle<void> sleeper = spawn(sleep_long(), "sleeper");
            co_await settle_turns();
            std::raise(SIGUSR1);
            // Handshake: wait (bounded) until the dump is in the file.
            for (int i = 0; i < 2000 && !has(*text, "'sleeper' suspended on sleep"); ++i) {
                co_await sleep(1ms);
                std::fflush(stderr);
                std::ifstream in(file);
                std::ostringstream all;
                all << in.rdbuf();
                *text = all.str();
            }
            Loop::current()->set_dump_tasks_on_sigusr1(false);
            sleeper.cancel();
            [[maybe_unused]] auto ended6 = co_await nothrow(sleeper);
        }(path, &seen));
        std::fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(capture);
        unlink(path);
        CHECK(has(seen, "uvtask: 2 live tasks\n"));
        CHECK(has(seen, "'sleeper' suspended on sleep ("));
    }

    TEST_CASE("a task that swallowed a thrown cancel and returned a value is reported by name") {
        auto run = run_test(
            []() -> Task<void> {
                Loop::current()->set_report_swallowed_cancels(true);
                bool reached = false;
                co_await cancel_once_suspended(swallow_thrown(&reached), &reached, "swallower");
            }(),
            RunTestOptions{.expect_reports = true});
        CHECK(reports_named(run.reports, "swallower", "swallowed a cancellation").size() == 1);
        CHECK(run.reports.size() == 1);
    }

    TEST_CASE(
        "a task that got its cancel as an Outcome (nothrow) and returned a value is "
        "reported the same way") {
        auto run = run_test(
            []() -> Task<void> {
                Loop::current()->set_report_swallowed_cancels(true);
                bool reached = false;
                co_await cancel_once_suspended(swallow_outcome(&reached), &reached, "nothrower");
            }(),
            RunTestOptions{.expect_reports = true});
        CHECK(reports_named(run.reports, "nothrower", "swallowed a cancellation").size() == 1);
        CHECK(run.reports.size() == 1);
    }

    TEST_CASE(
        "refusing with uncancel(), re-raising, and a deadline's own cancel are not "
        "reported as swallowed") {
        run_test([]() -> Task<void> {
            Loop::current()->set_report_swallowed_cancels(true);
            bool a = false;
            co_await cancel_once_suspended(refuse_with_uncancel(&a), &a, "refuser");
            bool b = false;
            co_await cancel_once_suspended(reraise(&b), &b, "reraiser");
            bool c = false;
            TaskHandle<int> deadline = spawn(deadline_then_value(&c), "deadline");
            Outcome<int> value = co_await nothrow(deadline);
            CHECK(value.has_value());
        }());  // run_test fails on any report
    }

    TEST_CASE("a swallowed cancel is not reported while the report is off") {
        run_test([]() -> Task<void> {
            bool reached = false;
            co_await cancel_once_suspended(swallow_thrown(&reached), &reached, "swallower");
        }());  // run_test fails on any report
    }

    TEST_CASE(
        "a step longer than the threshold is reported with the task's name, its length "
        "and where it resumed") {
        auto run = run_test(
            []() -> Task<void> {
                Loop::current()->set_slow_step_threshold(10ms);
                TaskHandle<void> h9 = spawn(spin_between_yields(40ms), "spinner");
                co_await h9;  // its spin: 40 ms
                TaskHandle<void> h10 = spawn(spin_then_end(40ms), "ender");
                co_await h10;
                Loop::current()->set_slow_step_threshold(0ms);
            }(),
            RunTestOptions{.expect_reports = true});
        // Only the spinning step says "resumed from yield_now(), then suspended on yield_now()"
        // (the quick ones, reported only on a badly overloaded machine, start or end the task).
        const auto spinner =
            reports_named(run.reports, "spinner",
                          "without a suspension point (resumed from yield_now(), then suspended on "
                          "yield_now())");
        REQUIRE(spinner.size() == 1);
        const std::string& message = spinner[0].message;
        REQUIRE(has(message, "slow step: "));
        CHECK(spinner[0].exception == nullptr);
        const double ms = std::strtod(message.c_str() + std::string("slow step: ").size(), nullptr);
        CHECK(has(message, " ms "));
        CHECK(ms >= 40.0);  // the spin's length is a lower bound of the step's
        const auto ender = reports_named(run.reports, "ender", "slow step: ");
        REQUIRE(ender.size() == 1);
        CHECK(has(ender[0].message, "(resumed from sleep, then it ended)"));
    }

    TEST_CASE(
        "a step under the threshold, or any step while the detector is off, is not "
        "reported") {
        run_test([]() -> Task<void> {
            Loop::current()->set_slow_step_threshold(10s);
            TaskHandle<void> h11 = spawn(spin_between_yields(5ms), "spinner");
            co_await h11;
            Loop::current()->set_slow_step_threshold(0ms);
            TaskHandle<void> h12 = spawn(spin_between_yields(5ms), "spinner");
            co_await h12;
        }());  // run_test fails on any report
        run_test([]() -> Task<void> {
            CHECK_THROWS_AS(Loop::current()->set_slow_step_threshold(-1ms), InvalidDurationError);
            co_return;
        }());
    }

    TEST_CASE("the cancel-latency statistics time cancel to delivery and delivery to end") {
        run_test([]() -> Task<void> {
            Loop& loop = *Loop::current();
            CHECK(loop.cancel_latency_stats().to_delivery.count == 0);  // off: nothing
            loop.set_cancel_latency_stats(true);
            bool a = false;
            TaskHandle<void> slow_cleanup = spawn(cleanup_spin(5ms, &a), "cleanup");
            bool b = false;
            Event go;
            TaskHandle<void> held = spawn(late_delivery(&go, 5ms, &b), "held");
            while (!a || !b) {
                co_await yield_now();
            }
            slow_cleanup.cancel();
            held.cancel();
            go.set();
            [[maybe_unused]] auto ended7 = co_await nothrow(slow_cleanup);
            [[maybe_unused]] auto ended8 = co_await nothrow(held);
            const CancelLatencyStats stats = loop.cancel_latency_stats();
            CHECK(stats.to_delivery.count == 2);
            CHECK(stats.to_end.count == 2);
            // Lower bounds only: the held task's delivery waited for its 5 ms non-cancellable
            // step, the cleanup's end for its 5 ms spin.
            CHECK(stats.to_delivery.max >= 5ms);
            CHECK(stats.to_end.max >= 5ms);
            CHECK(stats.to_delivery.p50 <= stats.to_delivery.p99);
            CHECK(stats.to_delivery.p99 <= stats.to_delivery.max);
            std::ostringstream out;
            out << stats;
            CHECK(has(out.str(), "cancel -> delivery: n=2 p50="));
            CHECK(has(out.str(), "\ndelivery -> end: n=2 p50="));
            loop.set_cancel_latency_stats(false);
            CHECK(loop.cancel_latency_stats().to_end.count == 0);
        }());
    }

    TEST_CASE("RunOptions turn the diagnostics on for run()'s loop") {
        std::vector<ExceptionContext> reports;
        RunOptions options;
        options.report_swallowed_cancels = true;
        options.slow_step_threshold = 10ms;
        options.cancel_latency_stats = true;
        options.exception_handler = [&](const ExceptionContext& c) { reports.push_back(c); };
        std::string stats;
        run(
            [](std::string* out) -> Task<void> {
                bool reached = false;
                co_await cancel_once_suspended(swallow_thrown(&reached), &reached, "swallower");
                TaskHandle<void> h13 = spawn(spin_between_yields(40ms), "spinner");
                co_await h13;
                std::ostringstream text;
                text << Loop::current()->cancel_latency_stats();
                *out = text.str();
            }(&stats),
            options);
        CHECK(reports_named(reports, "swallower", "swallowed a cancellation").size() == 1);
        CHECK(reports_named(reports, "spinner",
                            "(resumed from yield_now(), then suspended on "
                            "yield_now())")
                  .size() == 1);
        CHECK(has(stats, "cancel -> delivery: n=1 "));
        RunOptions negative;
        negative.slow_step_threshold = -1ms;
        CHECK_THROWS_AS(run([]() -> Task<void> { co_return; }(), negative), InvalidDurationError);
    }
}
