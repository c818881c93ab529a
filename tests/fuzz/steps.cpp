// What the driver does to the real runtime in each step, and the checks of its own.
#include "steps.hpp"

#include <map>
#include <sstream>

#include "compare.hpp"
#include "remote.hpp"

namespace uvtask::fuzz {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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

Task<Actual> perform(Context& c, const Step& s) {
    Actual actual;
    auto then_cancel = [&] {
        if (s.then_cancel >= 0) {
            actual.cancel_result =
                c.world.puppet(s.then_cancel).handle.cancel(s.msg, s.cancel_kind);
        }
    };
    switch (s.kind) {
        case StepKind::spawn: {
            Puppet& p = c.world.puppet(s.target);
            p.handle = spawn(c.world.body(&p), p.name);
            if (s.b == 1) {
                actual.cancel_result = p.handle.cancel(s.msg, s.cancel_kind);
            }
            break;
        }
        case StepKind::command: (void)c.world.puppet(s.target).commands.try_push(s.cmd); break;
        case StepKind::cancel:
            actual.cancel_result = c.world.puppet(s.target).handle.cancel(s.msg, s.cancel_kind);
            break;
        case StepKind::remote_cancel: {
            Remote& remote = Remote::instance();
            remote.cancel(c.world.puppet(s.target).handle, s.msg, s.cancel_kind, 0);
            const auto start = Clock::now();
            while (!remote.finished() && Clock::now() - start < 12 * settle_limit) {
                co_await yield_now();
            }
            actual.cancel_result =
                remote.finished() ? std::optional<bool>(remote.result()) : std::nullopt;
            ++c.stats.remote_cancels;
            break;
        }
        case StepKind::remote_race:
            (void)c.world.puppet(s.target).commands.try_push(s.cmd);
            Remote::instance().cancel(c.world.puppet(s.target).handle, s.msg, s.cancel_kind,
                                      static_cast<std::uint32_t>(s.value));
            ++c.stats.remote_cancels;
            break;
        case StepKind::expire:
            c.world.puppet(s.target).deadlines.back()->reschedule(Deadline::Clock::now() - 1s);
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

// §3.3: every item a push reported added was popped once or is still queued, and nothing else
// was popped.
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

}  // namespace uvtask::fuzz
