// TaskGroup and ExceptionGroup: no child outlives the group; failures cancel the rest and are all
// kept; an outer cancel propagates (docs/semantics.md §4).
#include <uvtask/task_group.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

struct ChildLog {
    bool started = false;
    bool finished = false;  // returned normally
    bool cancelled = false;
    CancelKind kind = CancelKind::user;
    std::string message;
};

struct CustomError {
    int code;
};

class OtherError : public std::logic_error {
public:
    using std::logic_error::logic_error;
};

Task<void> sleeper(std::chrono::milliseconds delay, ChildLog* log) {
    log->started = true;
    try {
        co_await sleep(delay);
    } catch (const CancelledError& e) {
        log->cancelled = true;
        log->kind = e.kind();
        log->message = e.message();
        throw;
    }
    log->finished = true;
}

Task<void> fail_after(std::chrono::milliseconds delay, std::string what) {
    co_await sleep(delay);
    throw std::runtime_error(what);
}

/// Sleeps; when cancelled, fails with `error` instead.
template <class E>
Task<void> fails_when_cancelled(E error) {
    bool cancelled = false;
    try {
        co_await sleep(10s);
    } catch (const CancelledError&) {
        cancelled = true;
    }
    if (cancelled) {
        throw error;
    }
}

Task<int> body_sleeping(TaskGroup& group, ChildLog* body_log, ChildLog* a, ChildLog* b) {
    group.spawn(sleeper(10s, a));
    group.spawn(fail_after(1ms, "child failed"));
    group.spawn(sleeper(10s, b));
    co_await sleeper(10s, body_log);
    co_return 1;
}

Task<void> yield_now_task() { co_await yield_now(); }

/// Asserts that no cancel request is left over: a suspension point passes.
Task<void> no_stray_cancel() {
    CHECK_FALSE(this_task::cancel_requested());
    co_await yield_now();
}

Task<Ended<void>> group_of_sleepers(ChildLog* a, ChildLog* b, ChildLog* body_log) {
    auto body = [](TaskGroup& group, ChildLog* a, ChildLog* b, ChildLog* body_log) -> Task<void> {
        group.spawn(sleeper(10s, a));
        group.spawn(sleeper(10s, b));
        co_await sleeper(10s, body_log);
    };
    Ended<void> out = co_await outcome_of(task_group(body, a, b, body_log));
    co_return out;
}

}  // namespace

TEST_SUITE("task_group") {
    TEST_CASE("the group ends only once every child has ended, and returns the body's value") {
        run_test([]() -> Task<void> {
            ChildLog a;
            ChildLog b;
            auto body = [](TaskGroup& group, ChildLog* a, ChildLog* b) -> Task<int> {
                group.spawn(sleeper(5ms, a));
                group.spawn(sleeper(15ms, b));
                CHECK(group.size() == 2);
                co_return 7;
            };
            const int v = co_await task_group(body, &a, &b);
            CHECK(v == 7);
            CHECK(a.finished);
            CHECK(b.finished);
            co_await no_stray_cancel();
        }());
    }

    TEST_CASE("a failing child cancels the others and the body; the group throws ExceptionGroup") {
        run_test([]() -> Task<void> {
            ChildLog body_log;
            ChildLog a;
            ChildLog b;
            Ended<int> out = co_await outcome_of(task_group(body_sleeping, &body_log, &a, &b));
            REQUIRE(out.threw<ExceptionGroup>());
            const ExceptionGroup& group = *out.as<ExceptionGroup>();
            CHECK(group.size() == 1);
            REQUIRE(group.first_of<std::runtime_error>() != nullptr);
            CHECK(std::string(group.first_of<std::runtime_error>()->what()) == "child failed");
            CHECK(body_log.cancelled);
            CHECK(body_log.kind == CancelKind::parent);
            CHECK(a.cancelled);
            CHECK(a.kind == CancelKind::parent);
            CHECK(b.cancelled);
            // The group's cancellation of the body is withdrawn: nothing leaks.
            CHECK(this_task::cancelling() == 0);
            co_await no_stray_cancel();
        }());
    }

    TEST_CASE("every failure is kept, each retrievable and rethrowable by type") {
        run_test([]() -> Task<void> {
            auto body = [](TaskGroup& group) -> Task<void> {
                group.spawn(fails_when_cancelled(OtherError("cleanup failed")));
                group.spawn(fails_when_cancelled(CustomError{42}));
                group.spawn(fail_after(1ms, "first"));
                co_await sleep(10s);
            };
            Ended<void> out = co_await outcome_of(task_group(body));
            REQUIRE(out.threw<ExceptionGroup>());
            const ExceptionGroup& group = *out.as<ExceptionGroup>();
            CHECK(group.size() == 3);
            // In the order they happened: the first failure, then the cancelled ones' failures.
            CHECK_THROWS_WITH_AS(group.rethrow(0), "first", std::runtime_error);
            CHECK(group.contains<OtherError>());
            CHECK(group.contains<CustomError>());
            REQUIRE(group.first_of<CustomError>() != nullptr);
            CHECK(group.first_of<CustomError>()->code == 42);
            CHECK(group.all_of<std::logic_error>().size() == 1);
            CHECK(group.all_of<std::exception>().size() == 2);
            CHECK_THROWS_AS(group.rethrow_first_of<OtherError>(), OtherError);
            CHECK_NOTHROW(group.rethrow_first_of<std::bad_alloc>());
            CHECK(group.first_of<CancelledError>() == nullptr);
            CHECK(std::string(group.what()).find("3 sub-exceptions") != std::string::npos);
        }());
    }

    TEST_CASE("nested exception groups are searched by the typed look-ups") {
        std::vector<std::exception_ptr> inner{std::make_exception_ptr(CustomError{7})};
        std::vector<std::exception_ptr> outer{
            std::make_exception_ptr(std::runtime_error("a")),
            std::make_exception_ptr(ExceptionGroup(std::move(inner)))};
        const ExceptionGroup group(std::move(outer));
        CHECK(group.size() == 2);
        REQUIRE(group.first_of<CustomError>() != nullptr);
        CHECK(group.first_of<CustomError>()->code == 7);
        CHECK(group.all_of<ExceptionGroup>().size() == 1);
        const ExceptionGroup copy = group;  // cheap, shares the list
        CHECK(copy.first_of<CustomError>() == group.first_of<CustomError>());
    }

    TEST_CASE("the body failing cancels the children; its exception is in the group, last") {
        run_test([]() -> Task<void> {
            ChildLog a;
            auto body = [](TaskGroup& group, ChildLog* a) -> Task<void> {
                group.spawn(sleeper(10s, a));
                group.spawn(fails_when_cancelled(OtherError("child cleanup")));
                co_await sleep(1ms);
                throw std::runtime_error("body failed");
            };
            Ended<void> out = co_await outcome_of(task_group(body, &a));
            REQUIRE(out.threw<ExceptionGroup>());
            const ExceptionGroup& group = *out.as<ExceptionGroup>();
            REQUIRE(group.size() == 2);
            CHECK_THROWS_AS(group.rethrow(0), OtherError);
            CHECK_THROWS_WITH_AS(group.rethrow(1), "body failed", std::runtime_error);
            CHECK(a.cancelled);
            CHECK(a.kind == CancelKind::parent);
        }());
    }

    TEST_CASE("an outer cancel cancels all children and propagates as CancelledError") {
        run_test([]() -> Task<void> {
            ChildLog a;
            ChildLog b;
            ChildLog body_log;
            TaskHandle<Ended<void>> task = spawn(group_of_sleepers(&a, &b, &body_log));
            co_await sleep(2ms);
            task.cancel("stop");
            Ended<void> out = co_await task;
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop");
            CHECK(body_log.cancelled);
            CHECK(a.cancelled);
            CHECK(b.cancelled);
            CHECK(a.message == "stop");  // the outer request is passed on
            CHECK(a.kind == CancelKind::user);
        }());
    }

    TEST_CASE("an outer cancel while the group waits for its children cancels and propagates") {
        run_test([]() -> Task<void> {
            ChildLog a;
            auto group_body = [](TaskGroup& group, ChildLog* a) -> Task<void> {
                group.spawn(sleeper(10s, a));
                co_return;  // the group now waits for the child
            };
            auto runner = [](ChildLog* a, decltype(group_body) b) -> Task<Ended<void>> {
                Ended<void> out = co_await outcome_of(task_group(b, a));
                co_return out;
            };
            TaskHandle<Ended<void>> task = spawn(runner(&a, group_body));
            co_await sleep(2ms);
            CHECK(a.started);
            task.cancel("stop");
            Ended<void> out = co_await task;
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop");
            CHECK(a.cancelled);
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("an outer cancel racing a child failure: ExceptionGroup, and the cancel the body "
              "received is not delivered again") {
        run_test([]() -> Task<void> {
            Event go;
            auto body = [](TaskGroup& group, Event* go) -> Task<void> {
                auto fail_on = [](Event* e) -> Task<void> {
                    co_await e->wait();
                    throw std::runtime_error("child failed");
                };
                group.spawn(fail_on(go));
                co_await sleep(10s);
            };
            auto runner = [](Event* go, decltype(body) b) -> Task<bool> {
                Ended<void> out = co_await outcome_of(task_group(b, go));
                CHECK(out.threw<ExceptionGroup>());
                // The body received CancelledError("user"): that was the request's one delivery
                // (docs/semantics.md §3.4). Still counted, never thrown a second time.
                CHECK_FALSE(this_task::cancel_requested());
                CHECK(this_task::cancelling() == 1);
                Ended<void> next = co_await outcome_of(yield_now_task());
                co_return next.ok();
            };
            TaskHandle<bool> task = spawn(runner(&go, body));
            co_await sleep(2ms);
            go.set();             // the child will fail when it runs…
            task.cancel("user");  // …and the outer cancel lands in the same tick
            const bool next_ok = co_await task;
            CHECK(next_ok);
        }());
    }

    TEST_CASE("no child outlives the group, even when the body throws at once") {
        run_test([]() -> Task<void> {
            ChildLog a;
            ChildLog b;
            auto body = [](TaskGroup& group, ChildLog* a, ChildLog* b) -> Task<void> {
                group.spawn(sleeper(10s, a));
                group.spawn(sleeper(10s, b));
                throw std::runtime_error("at once");
                co_return;
            };
            const std::size_t before = Loop::current()->live_tasks();
            Ended<void> out = co_await outcome_of(task_group(body, &a, &b));
            CHECK(out.threw<ExceptionGroup>());
            CHECK(Loop::current()->live_tasks() == before);
            // Cancelled before their bodies ran: they never started.
            CHECK_FALSE(a.started);
            CHECK_FALSE(b.started);
        }());
    }

    TEST_CASE("spawning into a group that is shutting down or has ended is an InvalidStateError") {
        run_test([]() -> Task<void> {
            TaskGroup* kept = nullptr;
            auto body = [](TaskGroup& group, TaskGroup** kept) -> Task<void> {
                *kept = &group;
                group.spawn(fail_after(1ms, "x"));
                try {
                    co_await sleep(10s);
                } catch (const CancelledError&) {
                }
                CHECK(group.shutting_down());
                CHECK_THROWS_AS(group.spawn(fail_after(1ms, "y")), InvalidStateError);
            };
            Ended<void> out = co_await outcome_of(task_group(body, &kept));
            CHECK(out.threw<ExceptionGroup>());
            CHECK(kept != nullptr);
        }());
    }

    TEST_CASE("a capturing lambda body stays alive for the whole group") {
        run_test([]() -> Task<void> {
            auto counter = std::make_shared<int>(0);
            std::string label(100, 'x');  // heap-allocated: a dangling copy would be caught
            auto body = [counter, label](TaskGroup& group) -> Task<void> {
                auto bump = [](std::shared_ptr<int> c) -> Task<void> {
                    co_await sleep(1ms);
                    ++*c;
                };
                group.spawn(bump(counter));
                co_await sleep(5ms);
                CHECK(label.size() == 100);  // the capture is still alive after a suspension
                ++*counter;
            };
            co_await task_group(std::move(body));
            CHECK(*counter == 2);
        }());
    }

    TEST_CASE("children cancelled by someone else are not failures") {
        run_test([]() -> Task<void> {
            ChildLog a;
            auto body = [](TaskGroup& group, ChildLog* a) -> Task<int> {
                TaskHandle<void> child = group.spawn(sleeper(10s, a));
                co_await sleep(1ms);
                child.cancel("just this one");
                co_return 3;
            };
            const int v = co_await task_group(body, &a);
            CHECK(v == 3);
            CHECK(a.cancelled);
        }());
    }

    TEST_CASE("a deadline around a group cancels its children and becomes TimeoutError") {
        run_test([]() -> Task<void> {
            ChildLog a;
            auto body = [](TaskGroup& group, ChildLog* a) -> Task<void> {
                group.spawn(sleeper(10s, a));
                co_return;  // the deadline expires while the group waits for the child
            };
            Ended<void> out = co_await outcome_of(with_timeout(5ms, task_group(body, &a)));
            REQUIRE(out.threw<TimeoutError>());
            CHECK(a.cancelled);
            CHECK(a.kind == CancelKind::timeout);
            CHECK(this_task::cancelling() == 0);
            co_await no_stray_cancel();
        }());
    }

    TEST_CASE("a body awaiting a failed child sees the failure, and the group keeps it too") {
        run_test([]() -> Task<void> {
            auto body = [](TaskGroup& group) -> Task<void> {
                TaskHandle<void> child = group.spawn(fail_after(1ms, "seen twice"));
                Ended<void> joined = co_await settled(child);
                CHECK(joined.threw<std::runtime_error>());
            };
            Ended<void> out = co_await outcome_of(task_group(body));
            REQUIRE(out.threw<ExceptionGroup>());
            CHECK(out.as<ExceptionGroup>()->size() == 1);
        }());
    }
}
