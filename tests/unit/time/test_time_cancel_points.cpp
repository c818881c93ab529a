// sleep, wait_for and with_timeout cancelled at each of their suspension points
// (`testing::cancel_at_every_point`): a cancel from outside is a CancelledError, never a
// TimeoutError; no timer, task or frame is left behind.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>

#include <uvtask/uvtask.hpp>

#include "cancel_points.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelPointRun;
using uvtask::testing::Counted;
using uvtask::testing::cover_every_point;
using uvtask::testing::RootEnd;

namespace {

struct Progress {
    int steps = 0;
    bool timed_out = false;
};

// Two sleeps and a yield; its Counted lives as long as its frame.
Task<int> work(Progress* p) {
    const Counted alive;
    co_await sleep(1ms);
    ++p->steps;
    co_await yield_now();
    ++p->steps;
    co_await sleep(1ms);
    ++p->steps;
    co_return 7;
}

// A run whose root was cancelled ended by the cancel; one that completed did all the work.
void check_progress(const CancelPointRun& run, const Progress& p) {
    CHECK(Counted::alive == 0);
    if (run.k == 0) {
        CHECK(p.steps == 3);
    } else {
        CHECK(run.end == RootEnd::cancelled);
        CHECK(p.steps < 3);
    }
}

// `work`, recording the message of a cancel that reaches it.
Task<int> recorded_work(Progress* p, std::string* cancel_message) {
    try {
        co_return co_await work(p);
    } catch (const CancelledError& e) {
        *cancel_message = e.message();
        throw;
    }
}

}  // namespace

TEST_SUITE("time_cancel_points") {
    TEST_CASE("move_on_after of inline work cancelled at every point: CancelledError, never a "
              "silent move-on") {
        std::unique_ptr<Progress> p;
        cover_every_point(
            "move_on_after(task)",
            [&p]() -> Task<void> {
                p = std::make_unique<Progress>();
                return [](Progress* q) -> Task<void> {
                    co_await move_on_after(1h, work(q));
                }(p.get());
            },
            [&p](const CancelPointRun& run) { check_progress(run, *p); });
    }

    TEST_CASE("a rescheduled Deadline's run cancelled at every point: CancelledError, the "
              "deadline never expired") {
        std::unique_ptr<Progress> p;
        cover_every_point(
            "Deadline::run",
            [&p]() -> Task<void> {
                p = std::make_unique<Progress>();
                return [](Progress* q) -> Task<void> {
                    auto deadline = Deadline::after(1h);
                    deadline.reschedule_after(2h);
                    try {
                        const int value = co_await deadline.run(work(q));
                        CHECK(value == 7);
                    } catch (const CancelledError&) {
                        CHECK_FALSE(deadline.expired());
                        throw;
                    }
                }(p.get());
            },
            [&p](const CancelPointRun& run) { check_progress(run, *p); });
    }

    TEST_CASE("shield of a task cancelled at every point: the outer cancel never reaches the "
              "shielded task") {
        std::unique_ptr<Progress> p;
        std::unique_ptr<std::string> inner_cancel;
        cover_every_point(
            "shield(handle)",
            [&p, &inner_cancel]() -> Task<void> {
                p = std::make_unique<Progress>();
                inner_cancel = std::make_unique<std::string>();
                return [](Progress* q, std::string* message) -> Task<void> {
                    // (Not inside CHECK: it would catch the CancelledError.)
                    const int value = co_await shield(spawn(recorded_work(q, message)));
                    CHECK(value == 7);
                }(p.get(), inner_cancel.get());
            },
            [&p, &inner_cancel](const CancelPointRun& run) {
                CHECK(Counted::alive == 0);
                if (run.k == 0) {
                    CHECK(p->steps == 3);
                    CHECK(inner_cancel->empty());
                    return;
                }
                CHECK(run.end == RootEnd::cancelled);
                // Only the tool's clean-up after the root ended may have cancelled it.
                CHECK((inner_cancel->empty() ||
                       *inner_cancel == "cancel_at_every_point: cleanup"));
                CHECK(inner_cancel->find("k=") == std::string::npos);
            });
    }

    TEST_CASE(
        "sleep in a joined task, then in the root, cancelled at every point: no timer "
        "left") {
        // (Sleeps of two tasks racing each other would depend on real time: the tool reports
        // such a scenario as not deterministic.)
        std::unique_ptr<Progress> p;
        cover_every_point(
            "sleep",
            [&p]() -> Task<void> {
                p = std::make_unique<Progress>();
                return [](Progress* q) -> Task<void> {
                    co_await spawn(work(q));
                    co_await sleep(1ms);
                    ++q->steps;
                }(p.get());
            },
            [&p](const CancelPointRun& run) {
                CHECK(Counted::alive == 0);
                // Points: the root's join, the child's sleep, yield and sleep, the root's sleep.
                REQUIRE(run.points == 5);
                constexpr int steps_before[] = {4, 0, 0, 1, 2, 3};  // by k
                CHECK(p->steps == steps_before[run.k]);
                if (run.k != 0) {
                    CHECK(run.end == RootEnd::cancelled);
                }
            });
    }

    TEST_CASE(
        "wait_for of a task handle cancelled at every point: the task is cancelled and "
        "awaited, the waiter gets CancelledError") {
        std::unique_ptr<Progress> p;
        cover_every_point(
            "wait_for(handle)",
            [&p]() -> Task<void> {
                p = std::make_unique<Progress>();
                return [](Progress* q) -> Task<void> {
                    const int value = co_await wait_for(spawn(work(q)), 1h);
                    CHECK(value == 7);
                }(p.get());
            },
            [&p](const CancelPointRun& run) { check_progress(run, *p); });
    }

    TEST_CASE(
        "with_timeout of inline work cancelled at every point: CancelledError, never "
        "TimeoutError") {
        std::unique_ptr<Progress> p;
        cover_every_point(
            "with_timeout(task)",
            [&p]() -> Task<void> {
                p = std::make_unique<Progress>();
                return [](Progress* q) -> Task<void> {
                    const int value = co_await with_timeout(1h, work(q));
                    CHECK(value == 7);
                }(p.get());
            },
            [&p](const CancelPointRun& run) { check_progress(run, *p); });
    }

    TEST_CASE(
        "an expiring with_timeout cancelled at every point: a cancel before the expiry is "
        "no TimeoutError") {
        std::unique_ptr<Progress> p;
        cover_every_point(
            "with_timeout(expiring)",
            [&p]() -> Task<void> {
                p = std::make_unique<Progress>();
                return [](Progress* q) -> Task<void> {
                    try {
                        co_await with_timeout(2ms, sleep(1h));
                    } catch (const TimeoutError&) {
                        q->timed_out = true;
                    }
                    co_await yield_now();
                }(p.get());
            },
            [&p](const CancelPointRun& run) {
                // Point 1 is the bounded sleep, point 2 the yield after the expiry.
                CHECK(run.points == 2);
                CHECK(p->timed_out == (run.k != 1));
                if (run.k != 0) {
                    CHECK(run.end == RootEnd::cancelled);
                }
            });
    }
}
