// Decoding one puppet command: which operation, with which operands.
#include <cstddef>
#include <vector>

#include "decoder.hpp"

namespace uvtask::fuzz {

namespace {

using namespace decode;

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

}  // namespace

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
                // A real timer only where the timer alone can end the wait: an item or a free
                // lock would complete it at once, unless the thread stalls for the timer's
                // millisecond before the first suspension point (then the deadline is past).
                if (c.dur == Dur::short_ms && !blocks(model, c.b, c.a)) {
                    c.dur = Dur::never;
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

}  // namespace uvtask::fuzz
