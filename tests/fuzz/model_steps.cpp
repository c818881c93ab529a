// The reference model's steps (what the driver does) and its queues and locks.
#include <sstream>

#include "model.hpp"

namespace uvtask::fuzz {

// ---- steps

Expect Model::apply(const Step& step) {
    p_.reserve(64);  // a copy (a forked model) has no spare room: no reallocation mid-step
    Expect expect;
    auto then_cancel = [&] {
        if (step.then_cancel >= 0) {
            expect.cancel_result = request_cancel(step.then_cancel, step.msg, step.cancel_kind);
        }
    };
    switch (step.kind) {
        case StepKind::spawn:
            spawn(-1, true);
            if (step.b == 1) {
                expect.cancel_result = request_cancel(step.target, step.msg, step.cancel_kind);
            }
            break;
        case StepKind::command:
            ready_.push_back({step.target, Ready::Kind::command, step.cmd});
            break;
        case StepKind::cancel:
        case StepKind::remote_cancel:
            expect.cancel_result = request_cancel(step.target, step.msg, step.cancel_kind);
            break;
        case StepKind::remote_race: return *apply_race(step, 0);
        case StepKind::expire: {
            MPuppet& p = p_[step.target];
            dl_expire(step.target,
                      p.scopes[static_cast<std::size_t>(expirable_deadline(step.target))].dl);
            break;
        }
        case StepKind::driver_push: {
            MQueue& q = q_[step.a];
            if (q.closed) {
                expect.driver_result = "closed";
            } else if (q.poppers.empty() && q.items.size() >= q.capacity) {
                expect.driver_result = "0";
            } else {
                put(step.a, step.value);
                expect.driver_result = "1";
            }
            then_cancel();
            break;
        }
        case StepKind::driver_pop: {
            MQueue& q = q_[step.a];
            if (!q.items.empty() || !q.pushers.empty()) {
                expect.driver_result = std::to_string(take(step.a));
            } else {
                expect.driver_result = q.closed ? "closed" : "none";
            }
            then_cancel();
            break;
        }
        case StepKind::driver_unlock:
            release(step.a);
            then_cancel();
            break;
        case StepKind::close_queue: close(step.a); break;
        case StepKind::time_slice: break;
    }
    run_until_quiet();
    return expect;
}

std::optional<Expect> Model::apply_race(const Step& step, int outcome) {
    p_.reserve(64);
    Expect expect;
    if (outcome == 0) {
        expect.cancel_result = request_cancel(step.target, step.msg, step.cancel_kind);
    }
    ready_.push_back({step.target, Ready::Kind::command, step.cmd});
    run_until_quiet();
    if (outcome == 1) {
        expect.cancel_result = request_cancel(step.target, step.msg, step.cancel_kind);
        run_until_quiet();
    } else if (outcome == 2) {
        if (p_[step.target].phase != Phase::ended) {
            return std::nullopt;
        }
        ++p_[step.target].cancelling;
        expect.cancel_result = true;
    }
    return expect;
}

int Model::expirable_deadline(int pid) const noexcept {
    const MPuppet& p = p_[pid];
    for (std::size_t i = p.scopes.size(); i-- > 0;) {
        if (p.scopes[i].kind == Op::scope_deadline) {
            return p.scopes[i].dl.expired ? -1 : static_cast<int>(i);
        }
    }
    return -1;
}

std::string Model::state_text() const {
    std::ostringstream out;
    static const char* phases[] = {"not started", "idle", "in op", "ended"};
    for (const MPuppet& p : p_) {
        out << "  " << p.name() << ": " << phases[static_cast<int>(p.phase)] << " (step " << p.seq
            << "), cancelling " << p.cancelling << (p.pending ? ", pending" : "") << ", depth "
            << p.scopes.size() << ", hold " << p.hold;
        if (p.phase == Phase::ended) {
            out << ", ended "
                << (p.end.ok ? "value " + std::to_string(p.end.value) : p.end.exc.text());
        }
        out << "\n";
    }
    return out.str();
}

// ---- queues and locks (§3.3: an item handed over is delivered even if a cancel follows)

void Model::put(int q, int value) {
    MQueue& queue = q_[q];
    if (!queue.poppers.empty()) {
        const int popper = queue.poppers.front();
        queue.poppers.pop_front();
        p_[popper].wait.value = value;
        wake(popper, Status::completed);
        return;
    }
    queue.items.push_back(value);
}

int Model::take(int q) {
    MQueue& queue = q_[q];
    if (!queue.pushers.empty()) {
        const auto [pusher, item] = queue.pushers.front();
        queue.pushers.pop_front();
        wake(pusher, Status::completed);
        if (queue.items.empty()) {
            return item;
        }
        queue.items.push_back(item);
    }
    const int value = queue.items.front();
    queue.items.pop_front();
    return value;
}

void Model::release(int l) {
    MLock& lock = l_[l];
    if (!lock.waiters.empty()) {
        const int waiter = lock.waiters.front();
        lock.waiters.pop_front();
        p_[waiter].wait.handed = true;
        wake(waiter, Status::completed);  // stays locked: handed over
        return;
    }
    lock.locked = false;
}

void Model::close(int q) {
    MQueue& queue = q_[q];
    queue.closed = true;
    for (const int popper : queue.poppers) {
        wake(popper, Status::closed);
    }
    queue.poppers.clear();
    for (const auto& [pusher, item] : queue.pushers) {
        wake(pusher, Status::closed);
    }
    queue.pushers.clear();
}

}  // namespace uvtask::fuzz
