// TaskGroup and the cancellations it makes: who the children are told asked, and no child
// outliving the group even when spawned while the last one ends.
#include <uvtask/task_group.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;

namespace {

struct Seen {
    bool cancelled = false;
    CancelKind kind = CancelKind::user;
    std::string message;
    bool done = false;
};

Task<void> sleeps_and_records(Seen* seen) {
    try {
        co_await sleep(10s);
    } catch (const CancelledError& e) {
        seen->cancelled = true;
        seen->kind = e.kind();
        seen->message = e.message();
        seen->done = true;
        throw;
    }
    seen->done = true;
}

Task<void> sleep_forever() { co_await sleep(10s); }

Task<void> sleep_then_return() { co_await sleep(1ms); }

Task<void> fail_later(Seen* seen) {
    co_await sleep(1ms);
    seen->done = true;
    throw std::runtime_error("late child failed");
}

}  // namespace

TEST_SUITE("task_group") {
    TEST_CASE("a body ending with a CancelledError nobody asked of its task cancels the children "
              "with kind parent, not with a stale request of the task") {
        run_test([]() -> Task<void> {
            Seen child;
            TaskHandle<void> other = spawn(sleep_forever(), "other");
            // The worker refuses an old request and withdraws it: its message and kind must not
            // resurface as the children's reason.
            auto body = [](TaskGroup& group, Seen* child, TaskHandle<void> other) -> Task<void> {
                group.spawn(sleeps_and_records(child));
                co_await other;  // `other` is cancelled by somebody else below
            };
            auto runner = [](Seen* child, TaskHandle<void> other,
                             decltype(body) b) -> Task<Ended<void>> {
                try {
                    co_await sleep(10s);
                } catch (const CancelledError&) {
                    this_task::uncancel();  // refused: "old" must never be seen again
                }
                Ended<void> out = co_await outcome_of(task_group(b, child, other));
                co_return out;
            };
            TaskHandle<Ended<void>> worker = spawn(runner(&child, other, body), "worker");
            co_await sleep(1ms);
            worker.cancel("old", CancelKind::signal);
            co_await sleep(2ms);
            other.cancel("not for the worker");
            Ended<void> out = co_await worker;
            CHECK(out.threw<CancelledError>());  // the body's CancelledError propagates
            REQUIRE(child.cancelled);
            CHECK(child.kind == CancelKind::parent);
            CHECK(child.message == "task group: the body ended with CancelledError");
            CHECK(worker.cancelling() == 0);
        }());
    }

    TEST_CASE("an outer cancel delivered to the body reaches the children with its own message "
              "and kind") {
        run_test([]() -> Task<void> {
            Seen child;
            auto body = [](TaskGroup& group, Seen* child) -> Task<void> {
                group.spawn(sleeps_and_records(child));
                co_await sleep(10s);
            };
            auto runner = [](Seen* child, decltype(body) b) -> Task<Ended<void>> {
                Ended<void> out = co_await outcome_of(task_group(b, child));
                co_return out;
            };
            TaskHandle<Ended<void>> worker = spawn(runner(&child, body));
            co_await sleep(2ms);
            worker.cancel("stop button", CancelKind::signal);
            Ended<void> out = co_await worker;
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop button");
            REQUIRE(child.cancelled);
            CHECK(child.kind == CancelKind::signal);
            CHECK(child.message == "stop button");
        }());
    }

    TEST_CASE("a child spawned into the group from the last child's done callback is awaited by "
              "the group and its failure is in the ExceptionGroup") {
        run_test([]() -> Task<void> {
            Seen late;
            auto body = [](TaskGroup& group, Seen* late) -> Task<void> {
                TaskHandle<void> first = group.spawn(sleep_then_return());
                first.add_done_callback([&group, late](const TaskHandle<void>&) {
                    group.spawn(fail_later(late), "late");  // while the group's wait ends
                });
                co_return;
            };
            Ended<void> out = co_await outcome_of(task_group(body, &late));
            CHECK(late.done);  // ended before task_group() returned
            REQUIRE(out.threw<ExceptionGroup>());
            const ExceptionGroup* errors = out.as<ExceptionGroup>();
            REQUIRE(errors->size() == 1);
            CHECK(errors->first_of<std::runtime_error>() != nullptr);
        }());
    }
}
