// The reference model's core: cancel requests and their delivery, the ready queue, the end of an
// operation, of a block and of a puppet.
#include "model.hpp"

#include <algorithm>
#include <utility>

namespace uvtask::fuzz {

std::string Exc::text() const {
    switch (type) {
        case Type::cancelled: return cancelled_text(msg, kind);
        case Type::timeout: return "timeout";
        case Type::boom: return "boom";
        case Type::closed: return "closed";
        case Type::invalid: return "invalid";
        case Type::group: {
            std::string out = "group[";
            for (std::size_t i = 0; i < members.size(); ++i) {
                out += (i == 0 ? "" : ",") + members[i];
            }
            return out + "]";
        }
    }
    return "?";
}

Result Result::of(int value, std::string text) {
    Result r;
    r.value = value;
    r.text = std::move(text);
    return r;
}

Result Result::error(Exc exc) {
    Result r;
    r.ok = false;
    r.exc = std::move(exc);
    return r;
}

Model::Model(std::size_t capacity0, std::size_t capacity1, KnownFaults faults) : faults_(faults) {
    p_.reserve(64);
    q_[0].capacity = capacity0;
    q_[1].capacity = capacity1;
}

// ---- cancellation (docs/semantics.md §3.1, §3.2, §3.4)

bool Model::deliverable(int pid) const { return p_[pid].pending && p_[pid].hold == 0; }

bool Model::request_cancel(int pid, const std::string& msg, CancelKind kind, bool keep) {
    MPuppet& p = p_[pid];
    if (p.phase == Phase::ended) {
        return false;
    }
    if (!keep || !p.pending) {
        p.msg = msg;
        p.kind = kind;
    }
    ++p.cancelling;
    ++p.requests;
    p.pending = true;
    // An idle puppet waits for its next command inside non_cancellable: nothing to interrupt.
    if (p.phase == Phase::in_op && p.wait.suspended && deliverable(pid)) {
        hook(pid);
    }
    return true;
}

Exc Model::take_cancel(int pid) {
    MPuppet& p = p_[pid];
    p.pending = false;
    ++p.deliveries;
    Exc e;
    e.type = Exc::Type::cancelled;
    e.msg = p.msg;
    e.kind = p.kind;
    return e;
}

int Model::uncancel(int pid) {
    MPuppet& p = p_[pid];
    if (p.cancelling > 0) {
        --p.cancelling;
        if (p.cancelling == 0) {
            p.pending = false;
        }
    }
    return p.cancelling;
}

/// The cancel hook of the awaitable the puppet is suspended in (§3.2).
void Model::hook(int pid) {
    WaitState& w = p_[pid].wait;
    switch (w.kind) {
        case Wait::sleep_short:
            timers_.erase(std::remove(timers_.begin(), timers_.end(), pid), timers_.end());
            wake(pid, Status::cancelled);
            break;
        case Wait::sleep: wake(pid, Status::cancelled); break;  // a wait_for's timer stays armed
        case Wait::yield: w.status = Status::cancelled; break;  // queued: thrown when resumed
        case Wait::spin:
            w.suspended = false;
            w.status = Status::cancelled;
            ready_.push_back({pid, Ready::Kind::resume, {}});
            break;
        case Wait::push: {
            auto& pushers = q_[w.obj].pushers;
            pushers.erase(std::find_if(pushers.begin(), pushers.end(),
                                       [pid](const auto& e) { return e.first == pid; }));
            wake(pid, Status::cancelled);
            break;
        }
        case Wait::pop: {
            auto& poppers = q_[w.obj].poppers;
            poppers.erase(std::find(poppers.begin(), poppers.end(), pid));
            wake(pid, Status::cancelled);
            break;
        }
        case Wait::lock: {
            auto& waiters = l_[w.obj].waiters;
            waiters.erase(std::find(waiters.begin(), waiters.end(), pid));
            wake(pid, Status::cancelled);
            break;
        }
        case Wait::join:
        case Wait::owned_join:
            // §3.6: passed on; the waiter goes on waiting for the target's end.
            w.propagated = true;
            request_cancel(w.obj, p_[pid].msg, p_[pid].kind);
            break;
        case Wait::shield: {
            auto& joiners = p_[w.obj].joiners;
            const auto at = std::find_if(joiners.begin(), joiners.end(), [pid](const Joiner& j) {
                return j.pid == pid && j.kind == Joiner::Kind::join;
            });
            if (at != joiners.end()) {
                joiners.erase(at);
            }
            wake(pid, Status::cancelled);
            break;
        }
        case Wait::gather:
            w.set.cancel_reached = true;
            forward_cancel(w.set, pid);
            break;
        case Wait::group_end: {
            ChildSet& set = p_[pid].scopes[static_cast<std::size_t>(w.obj)].group.set;
            set.cancel_reached = true;
            forward_cancel(set, pid);
            break;
        }
        case Wait::none: break;
    }
}

void Model::wake(int pid, Status status) {
    WaitState& w = p_[pid].wait;
    w.suspended = false;
    w.status = status;
    ready_.push_back({pid, Ready::Kind::resume, {}});
}

// ---- running

int Model::spawn(int pid, bool has_handle) {
    (void)pid;
    MPuppet p;
    p.id = static_cast<int>(p_.size());
    p.has_handle = has_handle;
    p_.push_back(std::move(p));
    ready_.push_back({p_.back().id, Ready::Kind::start, {}});
    return p_.back().id;
}

void Model::run_until_quiet() {
    for (;;) {
        while (!ready_.empty()) {
            Ready r = std::move(ready_.front());
            ready_.pop_front();
            MPuppet& p = p_[r.pid];
            switch (r.kind) {
                case Ready::Kind::start:
                    if (p.pending) {
                        // §3.5: cancelled before its body first ran: ends cancelled, unrun.
                        task_end(r.pid, Result::error(take_cancel(r.pid)));
                    } else {
                        p.ran = true;
                        p.phase = Phase::idle;
                    }
                    break;
                case Ready::Kind::command: start_op(r.pid, r.cmd); break;
                case Ready::Kind::resume: resume(r.pid); break;
            }
        }
        if (timers_.empty()) {
            return;
        }
        // Nothing is ready: real time passes until the (only) armed timer fires.
        const int pid = timers_.front();
        timers_.erase(timers_.begin());
        WaitState& w = p_[pid].wait;
        if (w.bounded && w.dl.timer) {
            w.dl.timer = false;
            dl_expire(pid, w.dl);
        } else if (w.kind == Wait::sleep_short) {
            wake(pid, Status::completed);
        }
    }
}

void Model::log(int pid, int seq, const std::string& text) {
    p_[pid].log.push_back(std::to_string(seq) + ":" + text);
}

void Model::go_idle(int pid) {
    p_[pid].phase = Phase::idle;
    p_[pid].wait = WaitState{};
}

/// The operation the puppet ran ended: log its result, or unwind its exception.
void Model::op_done(int pid, Result r) {
    MPuppet& p = p_[pid];
    if (r.ok) {
        log(pid, p.seq, r.text);
        go_idle(pid);
        return;
    }
    p.wait = WaitState{};
    block_done(pid, std::move(r));
}

/// The innermost block ended with `r` (`end`'s value, or an exception leaving it).
void Model::block_done(int pid, Result r) {
    MPuppet& p = p_[pid];
    if (p.scopes.empty()) {
        task_end(pid, std::move(r));
        return;
    }
    Scope& s = p.scopes.back();
    const int seq = s.seq;
    const bool is_cancel = !r.ok && r.exc.type == Exc::Type::cancelled;
    switch (s.kind) {
        case Op::scope_catch:
            p.scopes.pop_back();
            log(pid, seq, r.ok ? "catch=" + std::to_string(r.value) : "caught " + r.exc.text());
            go_idle(pid);
            return;
        case Op::scope_nc:
            p.scopes.pop_back();
            --p.hold;
            if (r.ok) {
                log(pid, seq, "nc=" + std::to_string(r.value));
                go_idle(pid);
                return;
            }
            block_done(pid, std::move(r));
            return;
        case Op::scope_timeout:
        case Op::scope_move_on:
        case Op::scope_deadline: {
            const Exit exit = dl_leave(pid, s.dl, !r.ok, is_cancel);
            const Op kind = s.kind;
            p.scopes.pop_back();
            if (exit == Exit::timed_out) {
                if (kind == Op::scope_move_on) {
                    log(pid, seq, "move_on=none");
                    go_idle(pid);
                    return;
                }
                r = Result::error(Exc{Exc::Type::timeout, {}, CancelKind::user, {}});
            } else if (exit == Exit::deliver_pending) {
                r = Result::error(take_cancel(pid));
            }
            if (r.ok) {
                const char* name = kind == Op::scope_timeout   ? "timeout="
                                   : kind == Op::scope_move_on ? "move_on="
                                                               : "deadline=";
                log(pid, seq, name + std::to_string(r.value));
                go_idle(pid);
                return;
            }
            block_done(pid, std::move(r));
            return;
        }
        case Op::scope_group: group_body_ended(pid, std::move(r)); return;
        default: return;
    }
}

/// The puppet's body ended (§3.5): its joiners are told, in the order they started waiting.
void Model::task_end(int pid, Result r) {
    MPuppet& p = p_[pid];
    p.phase = Phase::ended;
    p.end = std::move(r);
    p.wait = WaitState{};
    // One at a time from the live list, as the runtime does: what a joiner's wake-up does (a
    // scope cancelling its other children) may unlink a later joiner (a shield cancelled).
    while (!p_[pid].joiners.empty()) {
        const Joiner j = p_[pid].joiners.front();
        p_[pid].joiners.erase(p_[pid].joiners.begin());
        if (j.kind == Joiner::Kind::join) {
            wake(j.pid, Status::completed);
        } else {
            child_done(j, pid);
        }
    }
}

}  // namespace uvtask::fuzz
