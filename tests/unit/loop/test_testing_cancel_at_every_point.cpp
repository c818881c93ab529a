// testing::cancel_at_every_point: the rules of the tool itself — N counted right, the k-th run
// cancelled at the k-th point, a refused cancel seen completing, a leaked handle seen, a
// non-deterministic scenario reported, misuse named (docs/testing.md).
#include <uvtask/testing.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::cancel_at_every_point;
using uvtask::testing::CancelPointOptions;
using uvtask::testing::CancelPointRun;
using uvtask::testing::CancelPointSummary;
using uvtask::testing::RootEnd;

namespace {

Task<void> three_sleeps(std::vector<int>* log) {
    for (int i = 1; i <= 3; ++i) {
        co_await sleep(1ms);
        log->push_back(i);
    }
}

Task<void> sleeper(std::vector<int>* log, int id) {
    co_await sleep(1ms);
    log->push_back(id);
}

}  // namespace

TEST_SUITE("testing") {
    TEST_CASE("a scenario of exactly 3 sleeps has 3 points, and run k is cancelled at sleep k") {
        std::vector<int> log;
        std::vector<std::size_t> seen_k;
        const CancelPointSummary summary =
            cancel_at_every_point([&log] { return three_sleeps(&log); },
                                  [&](const CancelPointRun& run) {
                                      seen_k.push_back(run.k);
                                      CHECK(run.points == 3);
                                      CHECK(run.loop_closed_clean);
                                      CHECK(run.deterministic);
                                      CHECK(run.reports.empty());
                                      if (run.k == 0) {
                                          CHECK(run.end == RootEnd::completed);
                                          CHECK(log == std::vector<int>{1, 2, 3});
                                          CHECK(run.cancelled_at.empty());
                                      } else {
                                          // Cancelled at sleep k: the k-1 sleeps before it
                                          // completed, nothing after.
                                          CHECK(run.end == RootEnd::cancelled);
                                          CHECK(log.size() == run.k - 1);
                                          CHECK(run.points_seen == run.k);
                                          CHECK(run.cancelled_at == "task #1 'scenario' on sleep");
                                      }
                                      log.clear();
                                  });
        CHECK(summary.points == 3);
        CHECK(summary.runs == 4);
        CHECK(summary.completed == 1);
        CHECK(summary.cancelled == 3);
        CHECK(summary.failed == 0);
        CHECK(summary.unclean_loops == 0);
        CHECK(summary.nondeterministic == 0);
        CHECK(seen_k == std::vector<std::size_t>{0, 1, 2, 3});
    }

    TEST_CASE(
        "the points of the tasks the root spawns count; the cancel reaches them through a "
        "TaskGroup") {
        std::vector<int> log;
        const CancelPointSummary summary = cancel_at_every_point(
            [&log]() -> Task<void> {
                auto body = [&log](TaskGroup& group) -> Task<void> {
                    group.spawn(sleeper(&log, 1));
                    group.spawn(sleeper(&log, 2));
                    co_return;
                };
                co_await task_group(body);
            },
            [&](const CancelPointRun& run) {
                CHECK(run.loop_closed_clean);
                CHECK(run.deterministic);
                if (run.k == 0) {
                    CHECK(log.size() == 2);
                } else {
                    CHECK(run.end == RootEnd::cancelled);
                    CHECK(log.empty());  // every point is before a sleep ends
                }
                log.clear();
            });
        // The root's join, then one sleep per child.
        CHECK(summary.points == 3);
        CHECK(summary.cancelled == 3);
    }

    TEST_CASE("with virtual_time, a scenario of hour-long sleeps is jumped through, every run") {
        // Real time would hit each run's watchdog (1 s) at the first sleep.
        CancelPointOptions options;
        options.virtual_time = true;
        options.watchdog = 1000ms;
        std::vector<LoopClock::duration> slept;
        const CancelPointSummary summary = cancel_at_every_point(
            [&slept]() -> Task<void> {
                return [](std::vector<LoopClock::duration>* out) -> Task<void> {
                    const auto start = LoopClock::now();
                    try {
                        for (int i = 0; i < 3; ++i) {
                            co_await sleep(1h);
                        }
                    } catch (const CancelledError&) {
                        out->push_back(LoopClock::now() - start);
                        throw;
                    }
                    out->push_back(LoopClock::now() - start);
                }(&slept);
            },
            [](const CancelPointRun& run) {
                CHECK(run.loop_closed_clean);
                CHECK(run.end == (run.k == 0 ? RootEnd::completed : RootEnd::cancelled));
            },
            options);
        CHECK(summary.points == 3);
        // Run k was cancelled at its k-th sleep, after k-1 whole hours of virtual time.
        CHECK(slept == std::vector<LoopClock::duration>{3h, 0h, 1h, 2h});
    }

    TEST_CASE("a scenario that refuses the cancel is seen completing") {
        const CancelPointSummary summary = cancel_at_every_point(
            []() -> Task<void> {
                try {
                    co_await sleep(1ms);
                    co_await sleep(1ms);
                } catch (const CancelledError&) {
                    co_return;  // refused
                }
            },
            [](const CancelPointRun& run) {
                CHECK(run.end == RootEnd::completed);
                CHECK(run.loop_closed_clean);
            });
        CHECK(summary.points == 2);
        CHECK(summary.completed == 3);
        CHECK(summary.cancelled == 0);
    }

    TEST_CASE("a raw libuv handle left open makes loop_closed_clean false") {
        std::vector<std::unique_ptr<uv_timer_t>> timers;
        int unclean = 0;
        const CancelPointSummary summary = cancel_at_every_point(
            [&timers]() -> Task<void> {
                timers.push_back(std::make_unique<uv_timer_t>());
                uv_timer_init(Loop::current()->native(), timers.back().get());  // never closed
                co_await sleep(1ms);
            },
            [&](const CancelPointRun& run) {
                CHECK_FALSE(run.loop_closed_clean);
                REQUIRE(run.loop != nullptr);
                ++unclean;
                if (run.k == 0) {
                    // The check may close what was left; the tool sweeps the rest (run k=1).
                    uv_close(reinterpret_cast<uv_handle_t*>(timers.back().get()), nullptr);
                    uv_run(run.loop, UV_RUN_DEFAULT);
                }
            });
        CHECK(summary.points == 1);
        CHECK(summary.unclean_loops == 2);
        CHECK(unclean == 2);
    }

    TEST_CASE("a scenario whose points differ from the counting run's is reported, not hidden") {
        int calls = 0;
        std::vector<std::string> divergences;
        const CancelPointSummary summary = cancel_at_every_point(
            [&calls]() -> Task<void> {
                const int call = calls++;
                if (call == 2) {
                    co_await yield_now();  // run k=2 starts differently
                }
                co_await sleep(1ms);
                if (call != 3) {
                    co_await sleep(1ms);
                }
            },
            [&](const CancelPointRun& run) {
                CHECK(run.loop_closed_clean);
                CHECK(run.deterministic == (run.k < 2));
                divergences.push_back(run.divergence);
            });
        CHECK(summary.points == 2);
        CHECK(summary.nondeterministic == 1);
        REQUIRE(divergences.size() == 3);
        CHECK(divergences[2] ==
              "point 1: task #1 on sleep in the counting run, task #1 on yield_now() in this one");
        // A run that ends before its point k: also reported.
        calls = 3;
        const CancelPointSummary short_run = cancel_at_every_point(
            [&calls]() -> Task<void> {
                if (calls++ != 5) {  // run k=2 has one point only
                    co_await sleep(1ms);
                }
                co_await sleep(1ms);
            },
            [&](const CancelPointRun& run) {
                CHECK(run.deterministic == (run.k != 2));
                if (run.k == 2) {
                    CHECK(run.divergence == "the root ended after 1 point, before point 2");
                    CHECK(run.end == RootEnd::completed);  // never cancelled
                }
            });
        CHECK(short_run.nondeterministic == 1);
    }

    TEST_CASE("a run that never ends is stopped by its watchdog and fails") {
        const CancelPointSummary summary = cancel_at_every_point(
            []() -> Task<void> {
                for (;;) {
                    try {
                        co_await sleep(1h);
                    } catch (const CancelledError& e) {
                        if (e.message() == "cancel_at_every_point: watchdog") {
                            throw;
                        }
                    }
                }
            },
            [](const CancelPointRun& run) {
                CHECK(run.end == RootEnd::failed);
                CHECK(run.loop_closed_clean);
                REQUIRE(run.error != nullptr);
                CHECK_THROWS_AS(std::rethrow_exception(run.error), TimeoutError);
            },
            CancelPointOptions{20ms});
        CHECK(summary.points == 1);
        CHECK(summary.failed == 2);
    }

    TEST_CASE("a root waiting on nothing that can complete is a deadlock, failed") {
        const CancelPointSummary summary = cancel_at_every_point(
            []() -> Task<void> {
                Event never;
                co_await never.wait();
            },
            [](const CancelPointRun& run) {
                CHECK(run.loop_closed_clean);
                if (run.k == 0) {
                    CHECK(run.end == RootEnd::failed);
                    CHECK_THROWS_AS(std::rethrow_exception(run.error), InvalidStateError);
                } else {
                    CHECK(run.end == RootEnd::cancelled);
                }
            });
        CHECK(summary.points == 1);
    }

    TEST_CASE(
        "misuse is named: an empty scenario or check, a zero watchdog, a thread with a Loop") {
        auto check = [](const CancelPointRun&) {};
        CHECK_THROWS_AS(cancel_at_every_point({}, check), InvalidStateError);
        CHECK_THROWS_AS(cancel_at_every_point([]() -> Task<void> { co_return; }, {}),
                        InvalidStateError);
        CHECK_THROWS_AS(cancel_at_every_point([]() -> Task<void> { co_return; }, check, {0ms}),
                        InvalidDurationError);
        uvtask::testing::run_test([&]() -> Task<void> {
            CHECK_THROWS_AS(cancel_at_every_point([]() -> Task<void> { co_return; }, check),
                            InvalidStateError);
            co_return;
        }());
    }

    TEST_CASE("a scenario with no suspension point has N = 0: only the counting run") {
        const CancelPointSummary summary =
            cancel_at_every_point([]() -> Task<void> { co_return; },
                                  [](const CancelPointRun& run) { CHECK(run.k == 0); });
        CHECK(summary.points == 0);
        CHECK(summary.runs == 1);
    }
}
