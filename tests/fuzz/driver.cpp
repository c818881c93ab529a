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
#include "decoder.hpp"
#include "puppet.hpp"
#include "remote.hpp"

namespace uvtask::fuzz {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// How long the driver waits for the puppets to reach the state the model predicts. Generous:
/// a correct run gets there in microseconds, or in the few milliseconds of a timed operation.
constexpr auto settle_limit = 5s;
constexpr int wind_down_limit = 400;

struct Context {
    Context(const std::uint8_t* data, std::size_t size, const FuzzOptions& o, FuzzStats& s)
        : options(o), stats(s), decoder(data, size),
          model(decoder.capacity(0), decoder.capacity(1), o.faults),
          world(decoder.capacity(0), decoder.capacity(1)) {}
    const FuzzOptions& options;
    FuzzStats& stats;
    Decoder decoder;
    Model model;
    World world;
    std::vector<std::string> program;
    std::vector<ExceptionContext> reports;
    std::string failure;
    std::uint64_t polls = 0;  // loop iterations (a uv_prepare_t of the driver's, before each poll)
};

struct Actual {
    std::optional<bool> cancel_result;
    std::string driver_result;
};

void fail(Context& c, const Model& model, const std::string& what) {
    std::ostringstream out;
    out << "uvtask fuzz: the runtime diverged from the model at step " << c.program.size() << ": "
        << what << "\nprogram (queue capacities " << c.model.queue(0).capacity << ", "
        << c.model.queue(1).capacity << "):\n";
    for (std::size_t i = 0; i < c.program.size(); ++i) {
        out << "  " << i + 1 << ". " << c.program[i] << "\n";
    }
    out << "model:\n"
        << model.state_text() << "real:\n"
        << real_state(c.world) << "logs:\n"
        << logs(c.world, model);
    c.failure = out.str();
}

Puppet& puppet_of(Context& c, int id) { return c.world.puppet(id); }

Task<Actual> perform(Context& c, const Step& s) {
    Actual actual;
    auto then_cancel = [&] {
        if (s.then_cancel >= 0) {
            actual.cancel_result = puppet_of(c, s.then_cancel).handle.cancel(s.msg, s.cancel_kind);
        }
    };
    switch (s.kind) {
        case StepKind::spawn: {
            Puppet& p = puppet_of(c, s.target);
            p.handle = spawn(c.world.body(&p), p.name);
            if (s.b == 1) {
                actual.cancel_result = p.handle.cancel(s.msg, s.cancel_kind);
            }
            break;
        }
        case StepKind::command: (void)puppet_of(c, s.target).commands.try_push(s.cmd); break;
        case StepKind::cancel:
            actual.cancel_result = puppet_of(c, s.target).handle.cancel(s.msg, s.cancel_kind);
            break;
        case StepKind::remote_cancel: {
            Remote& remote = Remote::instance();
            remote.cancel(puppet_of(c, s.target).handle, s.msg, s.cancel_kind, 0);
            const auto start = Clock::now();
            while (!remote.finished() && Clock::now() - start < settle_limit) {
                co_await yield_now();
            }
            actual.cancel_result =
                remote.finished() ? std::optional<bool>(remote.result()) : std::nullopt;
            ++c.stats.remote_cancels;
            break;
        }
        case StepKind::remote_race:
            (void)puppet_of(c, s.target).commands.try_push(s.cmd);
            Remote::instance().cancel(puppet_of(c, s.target).handle, s.msg, s.cancel_kind,
                                      static_cast<std::uint32_t>(s.value));
            ++c.stats.remote_cancels;
            break;
        case StepKind::expire:
            puppet_of(c, s.target).deadlines.back()->reschedule(Deadline::Clock::now() - 1s);
            break;
        case StepKind::driver_push:
            try {
                const bool added = c.world.queue(s.a).try_push(s.value);
                c.world.pushed[s.value] += added ? 1 : 0;
                actual.driver_result = added ? "1" : "0";
            } catch (const QueueClosedError&) {
                actual.driver_result = "closed";
            }
            then_cancel();
            break;
        case StepKind::driver_pop:
            try {
                const std::optional<int> v = c.world.queue(s.a).try_pop();
                if (v) {
                    ++c.world.popped[*v];
                }
                actual.driver_result = v ? std::to_string(*v) : "none";
            } catch (const QueueClosedError&) {
                actual.driver_result = "closed";
            }
            then_cancel();
            break;
        case StepKind::driver_unlock:
            c.world.lock(s.a).unlock();
            then_cancel();
            break;
        case StepKind::close_queue: c.world.queue(s.a).close(); break;
        case StepKind::time_slice: {
            static const std::chrono::nanoseconds slices[] = {0ns, 20us, 1h};
            Loop::current()->set_time_slice(slices[s.a]);
            break;
        }
    }
    co_return actual;
}

/// Waits until the real puppets are where one of `candidates` says, and stay there; returns
/// its index, or -1 after `settle_limit`. `remote`: the other thread's cancel must have returned.
Task<int> settle(Context& c, const std::vector<Model*>& candidates, bool remote) {
    const auto start = Clock::now();
    int matched = -1;
    int stable = 0;
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
            if (++stable >= 3) {
                co_return now;  // quiet for three turns of the loop
            }
        } else {
            matched = now;
            stable = 0;
        }
        if (Clock::now() - start > settle_limit) {
            co_return -1;
        }
        // One round is one turn of the loop, not one yield: a yielding task may run again in
        // the same batch, before libuv polls, and a wake-up from another thread (uv_async_t)
        // is seen only when it polls.
        if (round < 64) {
            const std::uint64_t mark = c.polls;
            while (c.polls == mark) {
                co_await yield_now();
            }
        } else {
            co_await sleep(1ms);  // a timed operation is under way
        }
    }
}

Task<bool> run_step(Context& c, const Step& step) {
    c.program.push_back(describe(step));
    ++c.stats.steps;
    std::vector<Model> forks;
    std::vector<Expect> expects;
    std::vector<Model*> candidates;
    if (step.kind == StepKind::remote_race) {
        forks.reserve(3);
        for (int outcome = 0; outcome < 3; ++outcome) {
            Model fork = c.model;
            std::optional<Expect> expect = fork.apply_race(step, outcome);
            if (expect) {
                forks.push_back(std::move(fork));
                expects.push_back(*expect);
            }
        }
        for (Model& fork : forks) {
            candidates.push_back(&fork);
        }
    } else {
        expects.push_back(c.model.apply(step));
        candidates = {&c.model};
    }
    Actual actual = co_await perform(c, step);
    const int which = co_await settle(c, candidates, step.kind == StepKind::remote_race);
    if (which < 0) {
        fail(c, *candidates.back(), "the puppets did not reach the state the model predicts");
        co_return false;
    }
    if (step.kind == StepKind::remote_race) {
        actual.cancel_result = Remote::instance().result();
        ++(which == 0 ? c.stats.races_cancel_first : c.stats.races_cancel_after);
        c.stats.races_cancel_while_ending += which == 2 ? 1 : 0;
        c.model = std::move(forks[static_cast<std::size_t>(which)]);
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

/// No queue item lost or duplicated (§3.3): every item a push reported added was popped once or
/// is still queued, and nothing else was popped.
std::string check_items(Context& c) {
    std::map<int, int> left;
    for (int q = 0; q < queue_count; ++q) {
        for (;;) {
            std::optional<int> v;
            try {
                v = c.world.queue(q).try_pop();
            } catch (const QueueClosedError&) {
            }
            if (!v) {
                break;
            }
            ++left[*v];
        }
    }
    std::string out;
    std::map<int, int> all = c.world.popped;
    for (const auto& [item, n] : left) {
        all[item] += n;
    }
    for (const auto& [item, n] : all) {
        const auto in = c.world.pushed.find(item);
        const int pushed = in == c.world.pushed.end() ? 0 : in->second;
        if (n != pushed || pushed > 1) {
            out += "item " + std::to_string(item) + " pushed " + std::to_string(pushed) +
                   " times, popped or left " + std::to_string(n) + " times\n";
        }
    }
    for (const auto& [item, n] : c.world.pushed) {
        if (n > 0 && all.find(item) == all.end()) {
            out += "item " + std::to_string(item) + " was pushed and then lost\n";
        }
    }
    return out;
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
