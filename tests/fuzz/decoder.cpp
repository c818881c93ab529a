#include "decoder.hpp"

#include <cstddef>
#include <vector>

namespace uvtask::fuzz {

namespace {

using namespace decode;

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
            if (!blocks(model, s.cmd.b, s.cmd.a)) {
                s.cmd.b = 0;  // a pop or a lock that would complete at once: the sleep instead
            }
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
