#include "decoder.hpp"

#include <cstddef>
#include <vector>

namespace uvtask::fuzz {

namespace {

std::vector<int> idle_puppets(const Model& model) {
    std::vector<int> out;
    for (const MPuppet& p : model.puppets()) {
        if (p.phase == Phase::idle) {
            out.push_back(p.id);
        }
    }
    return out;
}

std::vector<int> with_handle(const Model& model, int above) {
    std::vector<int> out;
    for (const MPuppet& p : model.puppets()) {
        if (p.has_handle && p.id > above) {
            out.push_back(p.id);
        }
    }
    return out;
}

bool in_group(const MPuppet& p) {
    for (const Scope& s : p.scopes) {
        if (s.kind == Op::scope_group) {
            return true;
        }
    }
    return false;
}

/// How often each operation is picked, in the order of `Op`: the ones where tasks meet (queues,
/// locks, joins) and the scopes more often than the rest. Keep in step with make-seeds.py.
constexpr std::uint8_t op_weights[] = {
    3, 2, 1, 2, 2, 1,  // end, sleep_forever, sleep_short, yield, checkpoints, checkpoint_spin
    4, 4, 1, 1, 5, 4,  // push, pop, try_push, try_pop, lock, unlock
    2, 1, 2, 2, 2, 2,  // join, shield, wait_for_handle, wait_for_task, wait_for_op, gather
    2, 2, 2, 1, 2, 2,  // group_spawn, probe, uncancel, cancel_self, cancel_other, raise
    1, 3, 2, 2, 2, 2,  // expire_own, scope_catch, scope_nc, scope_timeout, scope_move_on,
    2,                 // scope_deadline, scope_group
};
static_assert(sizeof(op_weights) == static_cast<std::size_t>(Op::count));

int op_of(std::uint8_t byte) {
    int total = 0;
    for (const std::uint8_t w : op_weights) {
        total += w;
    }
    int at = byte % total;
    int op = 0;
    while (at >= op_weights[op]) {
        at -= op_weights[op];
        ++op;
    }
    return op;
}

/// Queue or lock 0 three times in four: tasks meet on it.
int object_of(std::uint8_t byte) { return byte % 4 == 3 ? 1 : 0; }

/// The puppet a driver_push / driver_pop / driver_unlock on queue or lock `a` would wake, or -1.
int woken_by(const Model& model, StepKind kind, int a) {
    if (kind == StepKind::driver_push && !model.queue(a).poppers.empty()) {
        return model.queue(a).poppers.front();
    }
    if (kind == StepKind::driver_pop && !model.queue(a).pushers.empty()) {
        return model.queue(a).pushers.front().first;
    }
    if (kind == StepKind::driver_unlock && !model.lock(a).waiters.empty()) {
        return model.lock(a).waiters.front();
    }
    return -1;
}

int pick(const std::vector<int>& from, std::uint8_t byte) {
    return from[static_cast<std::size_t>(byte) % from.size()];
}

}  // namespace

std::size_t Decoder::capacity(int q) {
    if (!header_read_) {
        header_ = byte();
        header_read_ = true;
    }
    static constexpr std::size_t capacities[] = {SIZE_MAX, 1, 0};
    return capacities[(q == 0 ? header_ : header_ / 3) % 3];
}

std::string Decoder::message() {
    static const char* const messages[] = {"", "a", "b"};
    return messages[byte() % 3];
}

std::optional<Command> Decoder::command(const Model& model, int pid) {
    const MPuppet& p = model.puppets()[static_cast<std::size_t>(pid)];
    const int size = static_cast<int>(model.puppets().size());
    const bool held = p.hold > 0;
    const bool deep = static_cast<int>(p.scopes.size()) >= max_depth;
    const int count = static_cast<int>(Op::count);
    Command c;
    int op = op_of(byte());
    for (int tries = 0; tries < count; ++tries, op = (op + 1) % count) {
        c = Command{};
        c.op = static_cast<Op>(op);
        switch (c.op) {
            case Op::end: c.value = byte() % 10; return c;
            case Op::sleep_forever:
            case Op::checkpoint_spin:
                // Only a cancel stops it: never held back, and the wind-down can cancel it.
                if (held || !p.has_handle) {
                    continue;
                }
                return c;
            case Op::sleep_short:
                (void)byte();  // a duration byte, kept so that seeds keep their meaning
                c.a = 1;
                return c;
            case Op::yield: c.a = 1 + byte() % 4; return c;
            case Op::checkpoints: c.a = 1 + byte() % 100; return c;
            case Op::push:
            case Op::try_push:
                c.a = object_of(byte());
                c.value = new_item();
                return c;
            case Op::pop:
            case Op::try_pop:
            case Op::lock: c.a = object_of(byte()); return c;
            case Op::unlock: {
                std::vector<int> locked;
                for (int l = 0; l < lock_count; ++l) {
                    if (model.lock(l).locked) {
                        locked.push_back(l);
                    }
                }
                if (locked.empty()) {
                    continue;
                }
                c.a = pick(locked, byte());
                return c;
            }
            case Op::join:
            case Op::shield:
            case Op::wait_for_handle: {
                // Only puppets made later: waits point from older to younger puppets, so they
                // never form a cycle and the wind-down can end the youngest first.
                const std::vector<int> targets = with_handle(model, pid);
                if (targets.empty()) {
                    continue;
                }
                c.a = pick(targets, byte());
                c.dur = byte() % 2 == 0 ? Dur::zero : Dur::never;
                return c;
            }
            case Op::wait_for_task:
                if (size + 1 > max_puppets) {
                    continue;
                }
                c.children = {size};
                c.dur = byte() % 2 == 0 ? Dur::zero : Dur::never;
                return c;
            case Op::wait_for_op: {
                c.b = byte() % 3;
                c.a = byte() % 2;
                const int d = byte() % 3;
                c.dur = d == 0 ? Dur::zero : d == 1 ? Dur::never : Dur::short_ms;
                // Held back, neither an expiry nor a cancel could stop a sleep or a timer; a
                // sleep with no deadline needs a handle to be cancelled by the wind-down.
                if (held && (c.b == 0 || c.dur == Dur::short_ms)) {
                    continue;
                }
                if (c.b == 0 && c.dur == Dur::never && !p.has_handle) {
                    continue;
                }
                return c;
            }
            case Op::gather: {
                const int k = 1 + byte() % 3;
                if (size + k > max_puppets) {
                    continue;
                }
                for (int i = 0; i < k; ++i) {
                    c.children.push_back(size + i);
                }
                c.b = byte() % 2;
                return c;
            }
            case Op::group_spawn:
                if (!in_group(p) || size + 1 > max_puppets) {
                    continue;
                }
                c.children = {size};
                return c;
            case Op::probe:
            case Op::uncancel:
            case Op::raise: return c;
            case Op::cancel_self:
                if (!p.has_handle) {
                    continue;
                }
                c.msg = message();
                return c;
            case Op::cancel_other: {
                const std::vector<int> targets = with_handle(model, -1);
                if (targets.empty()) {
                    continue;
                }
                c.a = pick(targets, byte());
                c.msg = message();
                return c;
            }
            case Op::expire_own:
                if (model.expirable_deadline(pid) < 0) {
                    continue;
                }
                return c;
            case Op::scope_timeout:
            case Op::scope_move_on:
                if (deep) {
                    continue;
                }
                c.dur = byte() % 2 == 0 ? Dur::zero : Dur::never;
                return c;
            case Op::scope_catch:
            case Op::scope_nc:
            case Op::scope_deadline:
            case Op::scope_group:
                if (deep) {
                    continue;
                }
                return c;
            case Op::count: break;
        }
    }
    return std::nullopt;
}

std::optional<Step> Decoder::race(const Model& model) {
    // Model::apply_race: racing only where the operation's end leads straight to the next
    // command or to the end of the body.
    std::vector<int> idle;
    for (const int id : idle_puppets(model)) {
        const MPuppet& p = model.puppets()[static_cast<std::size_t>(id)];
        if (p.has_handle && (p.scopes.empty() || p.scopes.back().kind == Op::scope_catch)) {
            idle.push_back(id);
        }
    }
    if (idle.empty()) {
        return std::nullopt;
    }
    Step s;
    s.kind = StepKind::remote_race;
    s.target = pick(idle, byte());
    const bool held = model.puppets()[static_cast<std::size_t>(s.target)].hold > 0;
    // Operations that end by themselves, with nothing else moving: the cancel lands before, in
    // or after them.
    switch (byte() % (held ? 3 : 4)) {
        case 0:
            s.cmd.op = Op::yield;
            s.cmd.a = 1 + byte() % 4;
            break;
        case 1:
            s.cmd.op = Op::checkpoints;
            s.cmd.a = 1 + byte() % 100;
            break;
        case 2:
            s.cmd.op = Op::sleep_short;
            s.cmd.a = 1;
            (void)byte();  // a duration byte, kept so that seeds keep their meaning
            break;
        default:
            s.cmd.op = Op::wait_for_op;
            s.cmd.b = byte() % 3;
            s.cmd.a = byte() % 2;
            s.cmd.dur = Dur::short_ms;
            break;
    }
    s.msg = message();
    s.cancel_kind = byte() % 2 == 0 ? CancelKind::user : CancelKind::signal;
    s.value = static_cast<int>(byte()) * 97;  // the remote thread's busy-wait
    return s;
}

std::optional<Step> Decoder::next(const Model& model) {
    if (steps_ >= max_steps || exhausted()) {
        return std::nullopt;
    }
    const int size = static_cast<int>(model.puppets().size());
    // A step that cannot be taken now falls back to a command, a spawn, a cancel.
    static constexpr std::uint8_t fallbacks[] = {100, 5, 160};
    for (int attempt = 0; attempt < 4 && !exhausted(); ++attempt) {
        const std::uint8_t b = attempt == 0 ? byte() : fallbacks[attempt - 1];
        Step s;
        if (b < 10 || size == 0) {
            if (size >= max_puppets) {
                continue;
            }
            s.kind = StepKind::spawn;
            s.target = size;
            s.b = byte() % 8 == 0 ? 1 : 0;
            s.msg = message();
        } else if (b < 150) {
            const std::vector<int> idle = idle_puppets(model);
            if (idle.empty()) {
                continue;
            }
            s.kind = StepKind::command;
            s.target = pick(idle, byte());
            std::optional<Command> c = command(model, s.target);
            if (!c) {
                continue;
            }
            s.cmd = *c;
        } else if (b < 190) {
            const std::vector<int> targets = with_handle(model, -1);
            if (targets.empty()) {
                continue;
            }
            s.kind = b < 175 ? StepKind::cancel : StepKind::remote_cancel;
            s.target = pick(targets, byte());
            s.msg = message();
            s.cancel_kind = byte() % 4 == 0 ? CancelKind::signal : CancelKind::user;
        } else if (b < 205) {
            std::optional<Step> r = race(model);
            if (!r) {
                continue;
            }
            s = *r;
        } else if (b < 215) {
            std::vector<int> targets;
            for (const MPuppet& p : model.puppets()) {
                if (p.phase != Phase::ended && model.expirable_deadline(p.id) >= 0) {
                    targets.push_back(p.id);
                }
            }
            if (targets.empty()) {
                continue;
            }
            s.kind = StepKind::expire;
            s.target = pick(targets, byte());
        } else if (b < 241) {
            s.kind = b < 225   ? StepKind::driver_push
                     : b < 233 ? StepKind::driver_pop
                               : StepKind::driver_unlock;
            s.a = object_of(byte());
            if (s.kind == StepKind::driver_unlock && !model.lock(s.a).locked) {
                s.a = 1 - s.a;
                if (!model.lock(s.a).locked) {
                    continue;
                }
            }
            s.value = new_item();
            // The cancel that follows in the same tick goes, one time in two, to the puppet
            // the action hands an item, room or the lock to: atomic completion (§3.3).
            std::vector<int> targets = with_handle(model, -1);
            const int woken = woken_by(model, s.kind, s.a);
            if (woken >= 0 && model.puppets()[static_cast<std::size_t>(woken)].has_handle) {
                targets.insert(targets.begin(), targets.size(), woken);
            }
            if (!targets.empty() && byte() % 2 == 0) {
                s.then_cancel = pick(targets, byte());
                s.msg = message();
            }
        } else if (b < 245) {
            s.kind = StepKind::close_queue;
            s.a = byte() % 2;
            if (model.queue(s.a).closed) {
                continue;
            }
        } else {
            s.kind = StepKind::time_slice;
            s.a = byte() % 3;
        }
        ++steps_;
        s.cmd.seq = steps_;
        return s;
    }
    return std::nullopt;
}

std::optional<Step> Decoder::wind_down(const Model& model) {
    const auto& puppets = model.puppets();
    for (std::size_t i = puppets.size(); i-- > 0;) {
        const MPuppet& p = puppets[i];
        if (p.phase == Phase::ended) {
            continue;
        }
        Step s;
        s.target = p.id;
        ++steps_;
        s.cmd.seq = steps_;
        if (p.phase == Phase::idle) {
            s.kind = StepKind::command;
            s.cmd.op = Op::end;
            return s;
        }
        switch (p.wait.kind) {
            case Wait::pop:
                s.kind = StepKind::driver_push;
                s.value = new_item();
                s.a = p.wait.obj;
                return s;
            case Wait::push:
                s.kind = StepKind::driver_pop;
                s.a = p.wait.obj;
                return s;
            case Wait::lock:
                s.kind = StepKind::driver_unlock;
                s.a = p.wait.obj;
                return s;
            default:
                if (!p.has_handle) {
                    continue;  // reached through the puppet waiting for it
                }
                s.kind = StepKind::cancel;
                s.msg = "wind-down";
                s.cancel_kind = CancelKind::shutdown;
                return s;
        }
    }
    return std::nullopt;
}

}  // namespace uvtask::fuzz
