// Test support for the suites that cancel a scenario at every suspension point
// (`testing::cancel_at_every_point`, docs/testing.md): the checks every run shares, and the
// message naming how many points a test covered.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"

namespace uvtask::testing {

/// `cancel_at_every_point(scenario, …)` with the checks every run shares — the loop closed clean
/// (no handle or request left), nothing reported (no task destroyed pending, no stray error),
/// the run deterministic, the root completed (counting run) or ended by the cancel or
/// completed (a refusal), never failed — then `check(run)` for the invariants of the scenario.
/// Runs under `UVTASK_SCHEDULE_SEED` like run_test. Checks that some run ended cancelled;
/// MESSAGEs and returns N, the points covered.
inline std::size_t cover_every_point(const char* what, std::function<Task<void>()> scenario,
                                     std::function<void(const CancelPointRun&)> check) {
    CancelPointOptions options;
    options.schedule_seed = schedule_seed_from_env();
    const std::string seed_note = schedule_note(options.schedule_seed);
    INFO(seed_note);
    const CancelPointSummary summary = cancel_at_every_point(
        std::move(scenario),
        [&](const CancelPointRun& run) {
            const std::string error =
                run.error ? detail::describe_exception(run.error) : std::string("(none)");
            const std::string about = std::string(what) + ": run k=" + std::to_string(run.k) +
                                      " of " + std::to_string(run.points) + ", cancelled at " +
                                      run.cancelled_at + ", " + to_string(run.end) + ": " + error;
            INFO(about);
            CHECK(run.loop_closed_clean);
            CHECK_MESSAGE(run.deterministic, run.divergence);
            for (const auto& report : run.reports) {
                FAIL_CHECK("unexpected report: " << report.message << " (task '"
                                                 << report.task_name << "')");
            }
            CHECK(run.end != RootEnd::failed);
            if (run.k == 0) {
                CHECK(run.end == RootEnd::completed);
            }
            check(run);
        });
    const std::string covered =
        std::string(what) + ": covered " + std::to_string(summary.points) + " points";
    MESSAGE(covered);
    CHECK(summary.points > 0);
    CHECK_MESSAGE(summary.cancelled > 0, "no run ended cancelled: did the cancels land?");
    return summary.points;
}

}  // namespace uvtask::testing
