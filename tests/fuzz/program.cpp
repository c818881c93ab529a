#include "program.hpp"

#include <string>

namespace uvtask::fuzz {

const char* op_name(Op op) noexcept {
    static const char* const names[] = {
        "end",           "sleep_forever", "sleep_short",
        "yield",         "checkpoints",   "checkpoint_spin",
        "push",          "pop",           "try_push",
        "try_pop",       "lock",          "unlock",
        "join",          "shield",        "wait_for_handle",
        "wait_for_task", "wait_for_op",   "gather",
        "group_spawn",   "probe",         "uncancel",
        "cancel_self",   "cancel_other",  "raise",
        "expire_own",    "scope_catch",   "scope_nc",
        "scope_timeout", "scope_move_on", "scope_deadline",
        "scope_group",
    };
    static_assert(sizeof(names) / sizeof(names[0]) == static_cast<std::size_t>(Op::count));
    return names[static_cast<int>(op)];
}

namespace {

const char* dur_name(Dur dur) {
    switch (dur) {
        case Dur::zero: return "0";
        case Dur::never: return "never";
        case Dur::short_ms: return "1ms";
    }
    return "?";
}

std::string quoted(const std::string& text) { return "\"" + text + "\""; }

}  // namespace

std::string describe(const Command& cmd) {
    std::string out = op_name(cmd.op);
    const std::string a = std::to_string(cmd.a);
    switch (cmd.op) {
        case Op::end: return out + " value=" + std::to_string(cmd.value);
        case Op::sleep_short: return out + " " + a + "ms";
        case Op::yield:
        case Op::checkpoints: return out + " x" + a;
        case Op::push:
        case Op::try_push: return out + " q" + a + " item=" + std::to_string(cmd.value);
        case Op::pop:
        case Op::try_pop: return out + " q" + a;
        case Op::lock:
        case Op::unlock: return out + " l" + a;
        case Op::join:
        case Op::shield: return out + " P" + a;
        case Op::wait_for_handle: return out + " P" + a + " " + dur_name(cmd.dur);
        case Op::wait_for_task:
            return out + " new P" + std::to_string(cmd.children.at(0)) + " " + dur_name(cmd.dur);
        case Op::wait_for_op: {
            static const char* const what[] = {"sleep(1h)", "pop q", "lock l"};
            return out + " " + what[cmd.b] + (cmd.b == 0 ? "" : a) + " " + dur_name(cmd.dur);
        }
        case Op::gather: {
            out += cmd.b == 0 ? " tasks" : " handles";
            for (const int c : cmd.children) {
                out += " new P" + std::to_string(c);
            }
            return out;
        }
        case Op::group_spawn: return out + " new P" + std::to_string(cmd.children.at(0));
        case Op::cancel_self: return out + " " + quoted(cmd.msg);
        case Op::cancel_other: return out + " P" + a + " " + quoted(cmd.msg);
        case Op::scope_timeout:
        case Op::scope_move_on: return out + " " + dur_name(cmd.dur);
        default: return out;
    }
}

std::string describe(const Step& step) {
    const std::string t = "P" + std::to_string(step.target);
    const std::string kind = std::string(to_string(step.cancel_kind));
    const std::string cancel = quoted(step.msg) + " " + kind;
    const std::string then =
        step.then_cancel >= 0 ? ", then cancel P" + std::to_string(step.then_cancel) + " " + cancel
                              : "";
    switch (step.kind) {
        case StepKind::spawn:
            return "spawn " + t + (step.b == 1 ? ", then cancel it " + cancel : "");
        case StepKind::command: return t + ": " + describe(step.cmd);
        case StepKind::cancel: return "cancel " + t + " " + cancel;
        case StepKind::remote_cancel: return "cancel " + t + " " + cancel + " from another thread";
        case StepKind::remote_race:
            return t + ": " + describe(step.cmd) + ", racing with a cancel " + cancel +
                   " from another thread (spin " + std::to_string(step.value) + ")";
        case StepKind::expire: return "expire the deadline of " + t;
        case StepKind::driver_push:
            return "driver: try_push q" + std::to_string(step.a) +
                   " item=" + std::to_string(step.value) + then;
        case StepKind::driver_pop: return "driver: try_pop q" + std::to_string(step.a) + then;
        case StepKind::driver_unlock: return "driver: unlock l" + std::to_string(step.a) + then;
        case StepKind::close_queue: return "driver: close q" + std::to_string(step.a);
        case StepKind::time_slice:
            return std::string("time slice ") + (step.a == 0 ? "0" : step.a == 1 ? "20us" : "1h");
    }
    return "?";
}

std::string cancelled_text(const std::string& message, CancelKind kind) {
    std::string out = "cancelled(" + std::string(to_string(kind));
    if (kind == CancelKind::user || kind == CancelKind::signal) {
        out += " " + quoted(message);
    }
    return out + ")";
}

}  // namespace uvtask::fuzz
