// The reference model's operations: what each command does when it starts and when the puppet
// resumes (docs/semantics.md §3.2 suspension points, §3.3 atomic completion, §3.6 joins).
#include <string>

#include "model.hpp"

namespace uvtask::fuzz {

namespace {

Exc error_of(Exc::Type type) {
    Exc e;
    e.type = type;
    return e;
}

}  // namespace

/// A suspension point's entry check: a deliverable cancel is thrown at once, without suspending.
bool Model::sp(int pid) { return deliverable(pid); }

Result Model::result_of(int target) const {
    const MPuppet& t = p_[target];
    return t.end.ok ? Result::of(t.end.value, std::to_string(t.end.value))
                    : Result::error(t.end.exc);
}

namespace {
Result labelled(Result r, const std::string& label) {
    if (r.ok) {
        r.text = label + r.text;
    }
    return r;
}
}  // namespace

void Model::bounded_finish(int pid, Result inner) {
    MPuppet& p = p_[pid];
    const bool failed = !inner.ok;
    const bool is_cancel = failed && inner.exc.type == Exc::Type::cancelled;
    const Exit exit = dl_leave(pid, p.wait.dl, failed, is_cancel);
    Result r = std::move(inner);
    if (exit == Exit::timed_out) {
        r = Result::error(error_of(Exc::Type::timeout));
    } else if (exit == Exit::deliver_pending) {
        r = Result::error(take_cancel(pid));
    } else if (r.ok) {
        r.text = "wait_for(" + r.text + ")";
    }
    op_done(pid, std::move(r));
}

void Model::owned_join(int pid, int target) {
    WaitState& w = p_[pid].wait;
    w.kind = Wait::owned_join;
    w.obj = target;
    if (p_[target].phase == Phase::ended) {
        bounded_finish(pid, labelled(result_of(target), "join="));
        return;
    }
    p_[target].joiners.push_back({pid, Joiner::Kind::join, 0});
    w.suspended = true;
    // A cancel pending already is passed on instead of thrown (no orphan).
    if (deliverable(pid)) {
        hook(pid);
    }
}

// ---- starting an operation

void Model::start_op(int pid, const Command& cmd) {
    MPuppet& p = p_[pid];
    p.phase = Phase::in_op;
    p.seq = cmd.seq;
    p.wait = WaitState{};
    WaitState& w = p.wait;
    w.op = cmd.op;
    auto cancelled_now = [&] {
        if (!sp(pid)) {
            return false;
        }
        Result r = Result::error(take_cancel(pid));
        if (p_[pid].wait.bounded) {
            bounded_finish(pid, std::move(r));
        } else {
            op_done(pid, std::move(r));
        }
        return true;
    };
    auto inner_done = [&](Result r) {
        if (p_[pid].wait.bounded) {
            bounded_finish(pid, std::move(r));
        } else {
            op_done(pid, std::move(r));
        }
    };
    auto park = [&](Wait kind, int obj) {
        w.kind = kind;
        w.obj = obj;
        w.suspended = true;
    };
    auto start_pop = [&](int q) {
        if (cancelled_now()) {
            return;
        }
        MQueue& queue = q_[q];
        if (!queue.items.empty() || !queue.pushers.empty()) {
            inner_done(Result::of(0, "pop=" + std::to_string(take(q))));
        } else if (queue.closed) {
            inner_done(Result::error(error_of(Exc::Type::closed)));
        } else {
            queue.poppers.push_back(pid);
            park(Wait::pop, q);
        }
    };
    auto start_lock = [&](int l) {
        if (cancelled_now()) {
            return;
        }
        if (!l_[l].locked) {
            l_[l].locked = true;
            inner_done(Result::of(0, "locked"));
        } else {
            l_[l].waiters.push_back(pid);
            park(Wait::lock, l);
        }
    };
    const int a = cmd.a;
    switch (cmd.op) {
        case Op::end: block_done(pid, Result::of(cmd.value)); return;
        case Op::sleep_forever:
            if (!cancelled_now()) {
                park(Wait::sleep, 0);
            }
            return;
        case Op::sleep_short:
            if (!cancelled_now()) {
                park(Wait::sleep_short, 0);
                timers_.push_back(pid);
            }
            return;
        case Op::yield:
            if (!cancelled_now()) {
                park(Wait::yield, 0);
                w.remaining = a;
                ready_.push_back({pid, Ready::Kind::resume, {}});
            }
            return;
        case Op::checkpoints:
            if (!cancelled_now()) {
                op_done(pid, Result::of(0, "checkpoints"));
            }
            return;
        case Op::checkpoint_spin:
            if (!cancelled_now()) {
                park(Wait::spin, 0);
            }
            return;
        case Op::push: {
            if (cancelled_now()) {
                return;
            }
            MQueue& queue = q_[a];
            if (queue.closed) {
                op_done(pid, Result::error(error_of(Exc::Type::closed)));
            } else if (!queue.poppers.empty() || queue.items.size() < queue.capacity) {
                put(a, cmd.value);
                op_done(pid, Result::of(0, "pushed"));
            } else {
                queue.pushers.emplace_back(pid, cmd.value);
                park(Wait::push, a);
            }
            return;
        }
        case Op::pop: start_pop(a); return;
        case Op::try_push: {
            MQueue& queue = q_[a];
            if (queue.closed) {
                op_done(pid, Result::error(error_of(Exc::Type::closed)));
            } else if (queue.poppers.empty() && queue.items.size() >= queue.capacity) {
                op_done(pid, Result::of(0, "try_push=0"));
            } else {
                put(a, cmd.value);
                op_done(pid, Result::of(0, "try_push=1"));
            }
            return;
        }
        case Op::try_pop: {
            MQueue& queue = q_[a];
            if (!queue.items.empty() || !queue.pushers.empty()) {
                op_done(pid, Result::of(0, "try_pop=" + std::to_string(take(a))));
            } else if (queue.closed) {
                op_done(pid, Result::error(error_of(Exc::Type::closed)));
            } else {
                op_done(pid, Result::of(0, "try_pop=none"));
            }
            return;
        }
        case Op::lock: start_lock(a); return;
        case Op::unlock:
            if (!l_[a].locked) {
                op_done(pid, Result::error(error_of(Exc::Type::invalid)));
                return;
            }
            release(a);
            op_done(pid, Result::of(0, "unlocked"));
            return;
        case Op::join:
        case Op::shield: {
            if (cancelled_now()) {
                return;
            }
            const char* label = cmd.op == Op::join ? "join=" : "shield=";
            if (p_[a].phase == Phase::ended) {
                op_done(pid, labelled(result_of(a), label));
                return;
            }
            park(cmd.op == Op::join ? Wait::join : Wait::shield, a);
            p_[a].joiners.push_back({pid, Joiner::Kind::join, 0});
            return;
        }
        case Op::wait_for_handle:
            w.bounded = true;
            dl_enter(pid, w.dl, cmd.dur);
            owned_join(pid, a);
            return;
        case Op::wait_for_task: {
            w.bounded = true;
            dl_enter(pid, w.dl, cmd.dur);
            const int child = spawn(pid, false);
            owned_join(pid, child);
            return;
        }
        case Op::wait_for_op:
            w.bounded = true;
            dl_enter(pid, w.dl, cmd.dur);
            if (cmd.b == 0) {
                if (!cancelled_now()) {
                    park(Wait::sleep, 0);
                }
            } else if (cmd.b == 1) {
                start_pop(a);
            } else {
                start_lock(a);
            }
            return;
        case Op::gather:
            for (const int c : cmd.children) {
                (void)c;
                const int child = spawn(pid, cmd.b == 1);
                p_[pid].wait.set.live.push_back({child, false});
                p_[pid].wait.gathered.push_back(child);
                p_[child].joiners.push_back({pid, Joiner::Kind::set_gather, 0});
            }
            p_[pid].wait.kind = Wait::gather;
            p_[pid].wait.suspended = true;
            if (deliverable(pid)) {
                hook(pid);  // a cancel pending already is passed on to the children
            }
            return;
        case Op::group_spawn: {
            int gi = static_cast<int>(p.scopes.size()) - 1;
            while (p.scopes[static_cast<std::size_t>(gi)].kind != Op::scope_group) {
                --gi;
            }
            if (p.scopes[static_cast<std::size_t>(gi)].group.set.cancelling) {
                op_done(pid, Result::error(error_of(Exc::Type::invalid)));
                return;
            }
            const int child = spawn(pid, true);
            p_[pid].scopes[static_cast<std::size_t>(gi)].group.set.live.push_back({child, false});
            p_[child].joiners.push_back({pid, Joiner::Kind::set_group, gi});
            op_done(pid, Result::of(0, "spawned"));
            return;
        }
        case Op::probe:
            op_done(pid, Result::of(0, "probe=" + std::to_string(p.cancelling) + "," +
                                           (p.pending ? "1" : "0")));
            return;
        case Op::uncancel: {
            const int n = uncancel(pid);
            op_done(pid, Result::of(0, "uncancel=" + std::to_string(n)));
            return;
        }
        case Op::cancel_self:
        case Op::cancel_other: {
            const bool r =
                request_cancel(cmd.op == Op::cancel_self ? pid : a, cmd.msg, CancelKind::user);
            op_done(pid, Result::of(0, std::string("cancel=") + (r ? "1" : "0")));
            return;
        }
        case Op::raise: op_done(pid, Result::error(error_of(Exc::Type::boom))); return;
        case Op::expire_own:
            dl_expire(pid, p.scopes[static_cast<std::size_t>(expirable_deadline(pid))].dl);
            op_done(pid, Result::of(0, "expired"));
            return;
        case Op::scope_catch:
        case Op::scope_nc:
        case Op::scope_timeout:
        case Op::scope_move_on:
        case Op::scope_deadline:
        case Op::scope_group: {
            Scope s;
            s.kind = cmd.op;
            s.seq = cmd.seq;
            p.scopes.push_back(s);
            Scope& scope = p.scopes.back();
            if (cmd.op == Op::scope_nc) {
                ++p.hold;
            } else if (cmd.op == Op::scope_group) {
                scope.group.at_entry = p.cancelling - (p.pending ? 1 : 0);
                scope.group.deliveries_at_entry = p.deliveries;
            } else if (cmd.op != Op::scope_catch) {
                dl_enter(pid, scope.dl, cmd.op == Op::scope_deadline ? Dur::never : cmd.dur);
            }
            go_idle(pid);
            return;
        }
        case Op::count: return;
    }
}

// ---- resuming a suspended puppet

void Model::resume(int pid) {
    MPuppet& p = p_[pid];
    WaitState& w = p.wait;
    auto inner_done = [&](Result r) {
        if (p_[pid].wait.bounded) {
            bounded_finish(pid, std::move(r));
        } else {
            op_done(pid, std::move(r));
        }
    };
    if (w.status == Status::cancelled) {
        inner_done(Result::error(take_cancel(pid)));
        return;
    }
    if (w.status == Status::closed) {
        inner_done(Result::error(error_of(Exc::Type::closed)));
        return;
    }
    switch (w.kind) {
        case Wait::sleep:
        case Wait::sleep_short: inner_done(Result::of(0, "slept")); return;
        case Wait::yield:
            if (--w.remaining > 0) {
                if (deliverable(pid)) {
                    inner_done(Result::error(take_cancel(pid)));
                    return;
                }
                w.status = Status::waiting;
                ready_.push_back({pid, Ready::Kind::resume, {}});
                return;
            }
            inner_done(Result::of(0, "yielded"));
            return;
        case Wait::push: inner_done(Result::of(0, "pushed")); return;
        case Wait::pop: inner_done(Result::of(0, "pop=" + std::to_string(w.value))); return;
        case Wait::lock:
            if (w.handed && deliverable(pid)) {
                // Handed the lock, then cancelled before it ran: the cancel wins, the lock is
                // passed on.
                release(w.obj);
                inner_done(Result::error(take_cancel(pid)));
                return;
            }
            inner_done(Result::of(0, "locked"));
            return;
        case Wait::join: {
            const MPuppet& t = p_[w.obj];
            if (w.propagated && t.ended_cancelled() && p.pending) {
                (void)take_cancel(pid);  // its end is our request's delivery
            }
            inner_done(labelled(result_of(w.obj), "join="));
            return;
        }
        case Wait::shield: inner_done(labelled(result_of(w.obj), "shield=")); return;
        case Wait::owned_join:
            if (w.propagated && p_[w.obj].ended_cancelled() && p.pending) {
                inner_done(Result::error(take_cancel(pid)));
                return;
            }
            inner_done(labelled(result_of(w.obj), "join="));
            return;
        case Wait::gather: gather_conclude(pid); return;
        case Wait::group_end: group_conclude(pid); return;
        case Wait::spin:
        case Wait::none: return;
    }
}

}  // namespace uvtask::fuzz
