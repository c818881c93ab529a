// Seeing cancellation in a running program: the live tasks and what each waits on, the SIGUSR1
// dump, the slow-step detector, the cancel-latency statistics (README, "Debugging cancellation").
#include <uv.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "loop/latency_histogram.hpp"
#include "loop/loop_handles.hpp"
#include "uvtask/debug.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask {

const char* to_string(TaskInfo::State state) noexcept {
    switch (state) {
        case TaskInfo::State::ready: return "ready";
        case TaskInfo::State::running: return "running";
        case TaskInfo::State::suspended: return "suspended";
    }
    return "?";
}

namespace {

std::string format_ns(std::chrono::nanoseconds ns) {
    char text[32];
    const auto n = static_cast<double>(ns.count());
    if (n < 1e3) {
        std::snprintf(text, sizeof text, "%.0f ns", n);
    } else if (n < 1e6) {
        std::snprintf(text, sizeof text, "%.1f us", n / 1e3);
    } else if (n < 1e9) {
        std::snprintf(text, sizeof text, "%.1f ms", n / 1e6);
    } else {
        std::snprintf(text, sizeof text, "%.2f s", n / 1e9);
    }
    return text;
}

void print_summary(std::ostream& out, const char* label, const LatencySummary& summary) {
    out << label << ": n=" << summary.count;
    if (summary.count != 0) {
        out << " p50=" << format_ns(summary.p50) << " p99=" << format_ns(summary.p99)
            << " max=" << format_ns(summary.max);
    }
    out << '\n';
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const CancelLatencyStats& stats) {
    print_summary(out, "cancel -> delivery", stats.to_delivery);
    print_summary(out, "delivery -> end", stats.to_end);
    return out;
}

namespace detail {

namespace {

// What `task`, suspended, waits on: the awaiter's name and its specifics (just the name if
// building the specifics runs out of memory).
std::string describe_wait(const Suspension& where) {
    const WaitInfo* info = where.waits_on;
    if (info == nullptr) {
        return "(unnamed awaiter)";
    }
    std::string out = info->what;
    if (info->detail != nullptr) {
        try {
            info->detail(where, out);
        } catch (...) {
            // Out of memory (or a user `describe()` threw): the name alone.
        }
    }
    return out;
}

}  // namespace

std::vector<TaskInfo> LoopCore::task_infos() {
    std::vector<TaskInfo> out;
    out.reserve(live_.size());
    std::unordered_map<std::uint64_t, std::size_t> by_number;
    const std::uint64_t now_ms = uv_now(loop_);
    live_.for_each([&](TaskState* task) {
        TaskInfo info;
        info.name = task->name();
        info.id = task->number();
        info.cancelling = task->cancelling();
        info.cancel_pending = task->cancel_requested();
        info.parent_id = task->trace.parent;
        info.age = std::chrono::milliseconds(
            now_ms > task->trace.born_ms ? now_ms - task->trace.born_ms : 0);
        const Suspension* where = task->suspension();
        if (task == tls_current_task) {
            info.state = TaskInfo::State::running;
        } else if (where != nullptr) {
            info.waiting_on = describe_wait(*where);
            const bool queued = where->waits_on != nullptr && where->waits_on->queued;
            info.state = queued ? TaskInfo::State::ready : TaskInfo::State::suspended;
        } else {
            info.state = TaskInfo::State::ready;
            if (!task->started()) {
                info.waiting_on = "(not started)";
            }
        }
        if (const JoinWaiter* watch = task->scope_watch(); watch != nullptr) {
            info.scope = watch->scope_kind;
            if (watch->scope_owner != nullptr) {
                info.scope += " of #" + std::to_string(watch->scope_owner->number()) + " '" +
                              watch->scope_owner->name() + "'";
            }
        }
        by_number.emplace(info.id, out.size());
        out.push_back(std::move(info));
    });
    for (TaskInfo& info : out) {
        if (auto it = by_number.find(info.parent_id);
            info.parent_id != 0 && it != by_number.end()) {
            info.parent_name = out[it->second].name;
        }
    }
    return out;
}

void LoopCore::run_timed_step(TaskState* task) noexcept {
    const bool first = !task->started();
    const WaitInfo* from = task->trace.last_wait;
    task->add_ref();  // the step may end the task: keep it to name it
    const std::uint64_t start = monotonic_ns();
    task->run_step();
    const std::uint64_t took = monotonic_ns() - start;
    drain_clock_ns_ = start + took;
    // The threshold read after the step: the step may have changed it (0: turned off).
    if (slow_step_ns_ != 0 && took >= slow_step_ns_) {
        try {
            std::string message = "slow step: " + format_ns(std::chrono::nanoseconds(took)) +
                                  " without a suspension point (";
            message += first ? "its first step"
                             : std::string("resumed from ") + (from != nullptr ? from->what : "?");
            const Suspension* next = task->done() ? nullptr : task->suspension();
            message += task->done() ? ", then it ended)"
                       : next != nullptr && next->waits_on != nullptr
                           ? std::string(", then suspended on ") + next->waits_on->what + ")"
                           : std::string(")");
            report({std::move(message), task->name(), nullptr});
        } catch (...) {
            report({"slow step (out of memory describing it)", {}, nullptr});
        }
    }
    task->release();
}

void LoopCore::run_watched_step(TaskState* task) noexcept {
    if (slow_step_ns_ != 0) {
        run_timed_step(task);
    } else {
        task->run_step();
    }
    if (point_watch_ != nullptr) {
        tls_current_task = nullptr;  // the watch acts from outside any task
        point_watch_->after_step();
    }
}

void LoopCore::set_latency_stats(bool enabled) {
    if (enabled) {
        latency_ = std::make_unique<LatencyStats>();
    } else {
        latency_.reset();
    }
    trace_flags.set(TraceFlags::latency_stats, enabled);
}

CancelLatencyStats LoopCore::latency_stats() const noexcept {
    CancelLatencyStats out;
    if (latency_ != nullptr) {
        out.to_delivery = latency_->to_delivery.summary();
        out.to_end = latency_->to_end.summary();
    }
    return out;
}

void LoopCore::note_cancel_delivered(std::uint64_t ns) noexcept {
    if (latency_ != nullptr) {
        latency_->to_delivery.add(ns);
    }
}

void LoopCore::note_cancelled_end(std::uint64_t ns) noexcept {
    if (latency_ != nullptr) {
        latency_->to_end.add(ns);
    }
}

void LoopHandles::on_sigusr1(uv_signal_t* handle, int /*signum*/) noexcept {
    LoopCore* core = core_of(handle->data);
    if (core == nullptr || core->owner() == nullptr) {
        return;
    }
    try {
        std::ostringstream out;
        core->owner()->dump_tasks(out);
        const std::string text = out.str();
        std::fwrite(text.data(), 1, text.size(), stderr);
        std::fflush(stderr);
    } catch (...) {
        std::fputs("uvtask: SIGUSR1 task dump: out of memory\n", stderr);
    }
}

void LoopCore::set_dump_on_sigusr1(bool enabled) {
    if (handles_ == nullptr) {
        throw InvalidStateError("the uvtask Loop is closed");
    }
    auto* signal = &handles_->sigusr1;
    if (enabled && !handles_->sigusr1_open) {
        if (int rc = uv_signal_init(loop_, signal); rc != 0) {
            throw InvalidStateError(std::string("uv_signal_init: ") + uv_strerror(rc));
        }
        signal->data = handles_;
        handles_->sigusr1_open = true;
        ++handles_->open;
        uv_unref(reinterpret_cast<uv_handle_t*>(signal));  // never keeps the loop alive
    }
    if (!handles_->sigusr1_open) {
        return;
    }
    if (enabled) {
        if (int rc = uv_signal_start(signal, &LoopHandles::on_sigusr1, SIGUSR1); rc != 0) {
            throw InvalidStateError(std::string("uv_signal_start(SIGUSR1): ") + uv_strerror(rc));
        }
    } else {
        uv_signal_stop(signal);
    }
}

}  // namespace detail

// ---- Loop's diagnostics

std::vector<TaskInfo> Loop::tasks() const { return core_->task_infos(); }

void Loop::dump_tasks(std::ostream& out) const {
    const std::vector<TaskInfo> infos = tasks();
    out << "uvtask: " << infos.size() << " live task" << (infos.size() == 1 ? "" : "s") << '\n';
    for (const TaskInfo& info : infos) {
        out << "  #" << info.id << " '" << info.name << "' " << to_string(info.state);
        if (!info.waiting_on.empty()) {
            out << (info.state == TaskInfo::State::suspended ? " on " : ": ") << info.waiting_on;
        }
        out << ", age " << info.age.count() << " ms";
        if (info.cancelling != 0 || info.cancel_pending) {
            out << ", cancelling " << info.cancelling
                << (info.cancel_pending ? " (pending delivery)" : "");
        }
        if (info.parent_id != 0) {
            out << ", spawned by #" << info.parent_id;
            if (!info.parent_name.empty()) {
                out << " '" << info.parent_name << "'";
            }
        }
        if (!info.scope.empty()) {
            out << ", in " << info.scope;
        }
        out << '\n';
    }
}

void Loop::set_dump_tasks_on_sigusr1(bool enabled) { core_->set_dump_on_sigusr1(enabled); }

void Loop::set_slow_step_threshold(std::chrono::nanoseconds threshold) {
    if (threshold.count() < 0) {
        throw InvalidDurationError("Loop::set_slow_step_threshold: the duration is negative");
    }
    core_->set_slow_step_ns(static_cast<std::uint64_t>(threshold.count()));
}

void Loop::set_report_swallowed_cancels(bool enabled) noexcept {
    core_->trace_flags.set(detail::TraceFlags::swallowed_cancels, enabled);
}

void Loop::set_cancel_latency_stats(bool enabled) { core_->set_latency_stats(enabled); }

CancelLatencyStats Loop::cancel_latency_stats() const noexcept { return core_->latency_stats(); }

}  // namespace uvtask
