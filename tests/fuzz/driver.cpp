#include "driver.hpp"

#include <uv.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "compare.hpp"
#include "remote.hpp"
#include "steps.hpp"

namespace uvtask::fuzz {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int wind_down_limit = 400;

/// Waits until the real puppets are where one of `candidates` says, and stay there; returns
/// its index, or -1 after `settle_limit`. `remote`: the other thread's cancel must have returned.
Task<int> settle(Context& c, const std::vector<Model*>& candidates, bool remote) {
    const auto start = Clock::now();
    int matched = -1;
    int stable = 0;
    std::uint64_t polls_at_match = 0;
    for (int round = 0;; ++round) {
        int now = -1;
        if (!remote || Remote::instance().finished()) {
            for (std::size_t i = 0; i < candidates.size() && now < 0; ++i) {
                const bool exact =
                    candidates.size() == 1 || differences(c.world, *candidates[i]).empty();
                if (same_places(c.world, *candidates[i]) && exact) {
                    now = static_cast<int>(i);
                }
            }
        }
        if (now >= 0 && now == matched) {
            // Quiet for three rounds of the ready queue, and across two polls of the loop: a
            // yielding task may run again in the same batch, before libuv polls, and what
            // another thread posted (uv_async_t) is seen only at a poll; the tasks it wakes
            // then run before the loop polls again.
            if (++stable >= 3 && c.polls >= polls_at_match + 2) {
                co_return now;
            }
        } else {
            matched = now;
            stable = 0;
            polls_at_match = c.polls;
        }
        // A divergence once both the time and enough turns have passed: on a loaded machine the
        // process may get no CPU for seconds, and that is not the runtime's fault.
        const auto waited = Clock::now() - start;
        if ((waited > settle_limit && round > settle_rounds) || waited > 12 * settle_limit) {
            c.settle_report =
                "waited " +
                std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
                " ms, " + std::to_string(round) + " rounds, last match " + std::to_string(matched);
            co_return -1;
        }
        if (round < 256 || now >= 0) {
            co_await yield_now();
        } else {
            co_await sleep(1ms);  // a timed operation is under way
        }
    }
}

/// Which outcome of a remote_race the real run took (an index into `forks`), or -1. Outcomes
/// that look the same once settled differ only in whether a request is pending: then the
/// puppet is asked (a probe, not a suspension point) and the model forks get the same probe.
Task<int> resolve_race(Context& c, const Step& step, std::vector<Model>& forks,
                       const std::vector<Expect>& expects) {
    std::vector<Model*> all;
    for (Model& fork : forks) {
        all.push_back(&fork);
    }
    const int first = co_await settle(c, all, true);
    if (first < 0) {
        co_return -1;
    }
    const bool result = Remote::instance().result();
    std::vector<int> matching;
    for (std::size_t i = 0; i < forks.size(); ++i) {
        if (expects[i].cancel_result == result && same_places(c.world, forks[i]) &&
            differences(c.world, forks[i]).empty()) {
            matching.push_back(static_cast<int>(i));
        }
    }
    if (matching.empty()) {
        co_return first;  // the caller reports what differs
    }
    const auto target = static_cast<std::size_t>(step.target);
    if (matching.size() == 1 ||
        forks[static_cast<std::size_t>(matching[0])].puppets()[target].phase != Phase::idle) {
        co_return matching[0];
    }
    Step probe;
    probe.kind = StepKind::command;
    probe.target = step.target;
    probe.cmd.op = Op::probe;
    probe.cmd.seq = step.cmd.seq;
    std::vector<Model*> rest;
    for (const int i : matching) {
        forks[static_cast<std::size_t>(i)].apply(probe);
        rest.push_back(&forks[static_cast<std::size_t>(i)]);
    }
    c.program.back() += ", then probe";
    (void)c.world.puppet(step.target).commands.try_push(probe.cmd);
    const int which = co_await settle(c, rest, false);
    co_return which < 0 ? -1 : matching[static_cast<std::size_t>(which)];
}

Task<bool> run_step(Context& c, const Step& step) {
    c.program.push_back(describe(step));
    ++c.stats.steps;
    std::vector<Model> forks;
    std::vector<Expect> expects;
    Actual actual;
    int which = 0;
    if (step.kind == StepKind::remote_race) {
        for (int outcome = 0; outcome < 3; ++outcome) {
            Model fork = c.model;
            std::optional<Expect> expect = fork.apply_race(step, outcome);
            if (expect) {
                forks.push_back(std::move(fork));
                expects.push_back(*expect);
            }
        }
        actual = co_await perform(c, step);
        which = co_await resolve_race(c, step, forks, expects);
        if (which >= 0) {
            actual.cancel_result = Remote::instance().result();
            ++(which == 0 ? c.stats.races_cancel_first : c.stats.races_cancel_after);
            c.stats.races_cancel_while_ending += which == 2 ? 1 : 0;
            c.model = std::move(forks[static_cast<std::size_t>(which)]);
        }
    } else {
        expects.push_back(c.model.apply(step));
        actual = co_await perform(c, step);
        which = co_await settle(c, {&c.model}, false);
    }
    if (which < 0) {
        fail(c, c.model,
             "the puppets did not reach the state the model predicts (" + c.settle_report + ")");
        co_return false;
    }
    const Expect& expect = expects[static_cast<std::size_t>(which)];
    std::string what;
    if (actual.cancel_result != expect.cancel_result) {
        what += "cancel() returned " +
                std::string(actual.cancel_result ? (*actual.cancel_result ? "true" : "false")
                                                 : "nothing") +
                "\n";
    }
    if (actual.driver_result != expect.driver_result) {
        what += "the driver got '" + actual.driver_result + "', expected '" + expect.driver_result +
                "'\n";
    }
    what += differences(c.world, c.model);
    if (!what.empty()) {
        fail(c, c.model, what);
        co_return false;
    }
    if (c.options.verbose) {
        std::printf("%zu. %s\n%s", c.program.size(), c.program.back().c_str(),
                    logs(c.world, c.model).c_str());
    }
    co_return true;
}

Task<void> drive(Context* c) {
    int winding = 0;
    for (;;) {
        std::optional<Step> step = c->decoder.next(c->model);
        if (!step) {
            step = c->decoder.wind_down(c->model);
            if (!step) {
                break;
            }
            if (++winding > wind_down_limit) {
                fail(*c, c->model, "the wind-down does not end the puppets");
                co_return;
            }
        }
        const bool ok = co_await run_step(*c, *step);
        if (!ok) {
            co_return;
        }
    }
    std::string what = check_items(*c);
    for (const ExceptionContext& report : c->reports) {
        // Failures of gather's later children are reported, never dropped silently.
        if (report.message != "Task exception was never retrieved") {
            what += "unexpected report: " + report.message + " (" + report.task_name + ")\n";
        }
    }
    for (std::size_t i = 0; i < c->world.size(); ++i) {
        Puppet& p = c->world.puppet(static_cast<int>(i));
        if (p.handle.valid() && p.handle.done() && !p.handle.cancelled()) {
            (void)p.handle.exception();  // retrieved: not reported when the handle goes
        }
    }
    if (!what.empty()) {
        fail(*c, c->model, what);
    }
}

std::uint64_t hash_of(const std::vector<std::string>& trace) {
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (const std::string& line : trace) {
        for (const char ch : line) {
            h = (h ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
        }
        h = (h ^ '\n') * 1099511628211ULL;
    }
    return h;
}

}  // namespace

bool run_program(const std::uint8_t* data, std::size_t size, const FuzzOptions& options,
                 FuzzStats& stats) {
    ++stats.programs;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        std::fprintf(stderr, "uvtask fuzz: uv_loop_init failed\n");
        return false;
    }
    std::string failure;
    {
        Loop adopted(&loop);
        Context c(data, size, options, stats);
        adopted.set_exception_handler(
            [&c](const ExceptionContext& context) { c.reports.push_back(context); });
        uv_prepare_t polls;
        uv_prepare_init(&loop, &polls);
        polls.data = &c.polls;
        uv_prepare_start(
            &polls, [](uv_prepare_t* handle) { ++*static_cast<std::uint64_t*>(handle->data); });
        uv_unref(reinterpret_cast<uv_handle_t*>(&polls));
        TaskHandle<void> driver = spawn(drive(&c), "driver");
        driver.add_done_callback([&loop](const TaskHandle<void>&) { uv_stop(&loop); });
        while (!driver.done()) {
            uv_run(&loop, UV_RUN_DEFAULT);
            if (!driver.done() && uv_loop_alive(&loop) == 0) {
                fail(c, c.model, "the driver waits on nothing that can complete");
                break;
            }
        }
        if (driver.done() && !driver.cancelled() && driver.exception() != nullptr) {
            fail(c, c.model, "the driver failed: " + describe(driver.exception()));
        }
        failure = c.failure;
        if (failure.empty() && adopted.live_tasks() != 0) {
            failure = "uvtask fuzz: " + std::to_string(adopted.live_tasks()) +
                      " tasks still live after the wind-down\n";
        }
        stats.trace_hash = hash_of(c.world.trace);
        uv_close(reinterpret_cast<uv_handle_t*>(&polls), nullptr);
        if (!failure.empty()) {
            std::fputs(failure.c_str(), stderr);
            return false;  // the caller aborts: no clean-up of a broken run
        }
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // the Loop's close requests
    if (uv_loop_close(&loop) != 0) {
        std::fputs("uvtask fuzz: uv_loop_close failed: a libuv handle leaked\n", stderr);
        return false;
    }
    return true;
}

}  // namespace uvtask::fuzz
