// The reference model's scopes: deadlines (asyncio.timeout's exit rule, as uvtask's Deadline
// documents it), the children of gather and of a task group (docs/semantics.md §4).
#include <algorithm>
#include <string>

#include "model.hpp"

namespace uvtask::fuzz {

// ---- deadlines

void Model::dl_enter(int pid, DeadlineState& dl, Dur dur) {
    const MPuppet& p = p_[pid];
    // A request still waiting for delivery is not the deadline's, and not handled yet.
    dl.at_entry = p.cancelling - (p.pending ? 1 : 0);
    if (dur == Dur::zero) {
        dl_expire(pid, dl);  // already past: the work's first suspension point throws
    } else if (dur == Dur::short_ms) {
        dl.timer = true;
        timers_.push_back(pid);
    }
}

void Model::dl_expire(int pid, DeadlineState& dl) {
    const MPuppet& p = p_[pid];
    dl.expired = true;
    dl.pending_at_fire = p.pending;
    dl.after_fire = p.cancelling + 1;
    // A request pending already keeps its message and kind: the work sees who else asked.
    request_cancel(pid, "deadline expired", CancelKind::timeout, true);
    dl.sequence_at_fire = p_[pid].requests;
}

Model::Exit Model::dl_leave(int pid, DeadlineState& dl, bool failed, bool is_cancel) {
    MPuppet& p = p_[pid];
    dl.left = true;
    if (dl.timer) {
        dl.timer = false;
        timers_.erase(std::remove(timers_.begin(), timers_.end(), pid), timers_.end());
    }
    if (!dl.expired) {
        return Exit::deliver;
    }
    const int before = p.cancelling;
    const int after = uncancel(pid);
    const bool newer_request = faults_.scope_keeps_request_after_withdrawn_newer
                                   ? p.requests != dl.sequence_at_fire
                                   : before > dl.after_fire;
    if (!dl.pending_at_fire && !newer_request && p.pending) {
        p.pending = false;  // our request, never delivered: withdrawn
    }
    if (after <= dl.at_entry) {
        return failed && is_cancel ? Exit::timed_out : Exit::deliver;
    }
    if (failed && is_cancel && newer_request && deliverable(pid)) {
        return Exit::deliver_pending;
    }
    return Exit::deliver;
}

// ---- children

ChildSet& Model::set_of(int pid, const Joiner& joiner) {
    if (joiner.kind == Joiner::Kind::set_gather) {
        return p_[pid].wait.set;
    }
    return p_[pid].scopes[static_cast<std::size_t>(joiner.scope)].group.set;
}

void Model::cancel_one(ChildSet& set, int owner, ChildSet::Rec& rec) {
    if (rec.cancelled) {
        return;
    }
    rec.cancelled = true;
    if (set.forwarded) {
        request_cancel(rec.pid, p_[owner].msg, p_[owner].kind);
    } else {
        request_cancel(rec.pid, set.msg, set.kind);
    }
}

void Model::cancel_children(ChildSet& set, int owner, const std::string& msg, CancelKind kind) {
    if (!set.cancelling) {
        set.cancelling = true;
        set.msg = msg;
        set.kind = kind;
    }
    for (std::size_t i = 0; i < set.live.size(); ++i) {
        cancel_one(set, owner, set.live[i]);
    }
}

void Model::forward_cancel(ChildSet& set, int owner) {
    if (!set.cancelling) {
        set.cancelling = true;
        set.forwarded = true;
    }
    for (std::size_t i = 0; i < set.live.size(); ++i) {
        cancel_one(set, owner, set.live[i]);
    }
}

void Model::child_done(const Joiner& joiner, int child) {
    const int owner = joiner.pid;
    ChildSet& set = set_of(owner, joiner);
    auto at = std::find_if(set.live.begin(), set.live.end(),
                           [child](const ChildSet::Rec& r) { return r.pid == child; });
    const bool cancelled_by_set = at->cancelled;
    set.live.erase(at);
    const MPuppet& c = p_[child];
    if (joiner.kind == Joiner::Kind::set_gather) {
        WaitState& w = p_[owner].wait;
        // A task ending cancelled without gather asking counts as a failure (asyncio).
        const bool failure = !c.end.ok && !(c.ended_cancelled() && cancelled_by_set);
        if (failure && !w.first_failure && !set.cancelling) {
            w.first_failure = c.end.exc;
            cancel_children(set, owner, "gather(): another task failed", CancelKind::parent);
        }
    } else if (!c.end.ok && c.end.exc.type != Exc::Type::cancelled) {
        GroupState& g = p_[owner].scopes[static_cast<std::size_t>(joiner.scope)].group;
        g.errors.push_back(c.end.exc.text());
        if (!set.cancelling) {
            const std::string msg = "task group: task '" + c.name() + "' failed";
            cancel_children(set, owner, msg, CancelKind::parent);
            if (g.body_running && !g.parent_cancel_requested) {
                // The body is interrupted too; the group withdraws that request when it ends.
                g.parent_cancel_requested = true;
                g.pending_at_ours = p_[owner].pending;
                g.after_ours = p_[owner].cancelling + 1;
                request_cancel(owner, msg, CancelKind::parent, true);
                g.sequence_at_ours = p_[owner].requests;
            }
        }
    }
    const WaitState& w = p_[owner].wait;
    const bool waiting = p_[owner].phase == Phase::in_op && w.suspended &&
                         (joiner.kind == Joiner::Kind::set_gather
                              ? w.kind == Wait::gather
                              : w.kind == Wait::group_end && w.obj == joiner.scope);
    if (set.live.empty() && waiting) {
        wake(owner, Status::completed);
    }
}

void Model::gather_conclude(int pid) {
    const WaitState& w = p_[pid].wait;
    if (w.first_failure) {
        op_done(pid, Result::error(*w.first_failure));
        return;
    }
    bool all_values = true;
    for (const int c : w.gathered) {
        all_values = all_values && p_[c].end.ok;
    }
    if (!all_values && w.set.cancel_reached && deliverable(pid)) {
        op_done(pid, Result::error(take_cancel(pid)));
        return;
    }
    std::string text = "gather=[";
    for (std::size_t i = 0; i < w.gathered.size(); ++i) {
        const MPuppet& c = p_[w.gathered[i]];
        if (!c.end.ok) {
            op_done(pid, Result::error(c.end.exc));
            return;
        }
        text += (i == 0 ? "" : ",") + std::to_string(c.end.value);
    }
    op_done(pid, Result::of(0, text + "]"));
}

// ---- task groups

void Model::group_body_ended(int pid, Result r) {
    MPuppet& p = p_[pid];
    GroupState& g = p.scopes.back().group;
    const bool is_cancel = !r.ok && r.exc.type == Exc::Type::cancelled;
    g.body_running = false;
    g.propagate_cancel = is_cancel;
    if (g.parent_cancel_requested) {
        const int before = p.cancelling;
        const int after = uncancel(pid);
        const bool newer_request = faults_.scope_keeps_request_after_withdrawn_newer
                                       ? p.requests != g.sequence_at_ours
                                       : before > g.after_ours;
        if (!g.pending_at_ours && !newer_request && p.pending) {
            p.pending = false;  // ours, never delivered: withdrawn
        }
        if (after <= g.at_entry) {
            g.propagate_cancel = false;  // the CancelledError was ours alone
        }
    }
    if (!r.ok && !g.set.cancelling) {
        if (!is_cancel) {
            cancel_children(g.set, pid, "task group: the body failed", CancelKind::parent);
        } else if (faults_.group_forwards_stale_cancel) {
            forward_cancel(g.set, pid);
        } else if (p.deliveries != g.deliveries_at_entry) {
            // An outer request reached the body: the children are told who asked.
            cancel_children(g.set, pid, r.exc.msg, r.exc.kind);
        } else {
            // Nobody asked this task (the body awaited something that was cancelled).
            cancel_children(g.set, pid, "task group: the body ended with CancelledError",
                            CancelKind::parent);
        }
    }
    g.body = std::move(r);
    if (g.set.live.empty()) {
        group_conclude(pid);
        return;
    }
    p.wait = WaitState{};
    p.wait.kind = Wait::group_end;
    p.wait.obj = static_cast<int>(p.scopes.size()) - 1;
    p.wait.suspended = true;
    if (deliverable(pid)) {
        hook(pid);
    }
}

void Model::group_conclude(int pid) {
    MPuppet& p = p_[pid];
    Scope& s = p.scopes.back();
    GroupState& g = s.group;
    const int seq = s.seq;
    const Result body = g.body;
    if (!body.ok && body.exc.type != Exc::Type::cancelled) {
        g.errors.push_back(body.exc.text());
    }
    Result out;
    if (!g.errors.empty()) {
        if (g.propagate_cancel && !p.pending && faults_.group_redelivers_cancel) {
            request_cancel(pid, body.exc.msg, body.exc.kind);
            uncancel(pid);
        }
        Exc e;
        e.type = Exc::Type::group;
        e.members = g.errors;
        out = Result::error(e);
    } else if (g.propagate_cancel) {
        out = body;
    } else if (g.set.cancel_reached && deliverable(pid)) {
        out = Result::error(take_cancel(pid));
    } else {
        out = Result::of(body.value);
    }
    p.scopes.pop_back();
    p.wait = WaitState{};
    if (out.ok) {
        log(pid, seq, "group=" + std::to_string(out.value));
        go_idle(pid);
        return;
    }
    block_done(pid, std::move(out));
}

}  // namespace uvtask::fuzz
