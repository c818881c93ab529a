// Deadline: a TimerNode that cancels the task it bounds, and asyncio.timeout's exit rule.
#include "uvtask/timeout.hpp"

#include <string>

#include "uvtask/detail/raise.hpp"

namespace uvtask {

Deadline::~Deadline() {
    if (armed()) {
        detail::disarm_timer(detail::LoopCore::of(*task_), this);
    }
}

std::uint64_t Deadline::after_ns(std::uint64_t delay_ns) noexcept {
    if (delay_ns >= static_cast<std::uint64_t>(INT64_MAX)) {
        return UINT64_MAX;  // ~292 years: never
    }
    const std::uint64_t now = detail::deadline_clock_ns();
    return delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;
}

std::uint64_t Deadline::to_ns(Clock::time_point when) noexcept {
    if (when == Clock::time_point::max()) {
        return UINT64_MAX;
    }
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch());
    return ns.count() <= 0 ? 0 : static_cast<std::uint64_t>(ns.count());
}

Deadline::Clock::time_point Deadline::when() const noexcept {
    if (when_ns_ >= static_cast<std::uint64_t>(INT64_MAX)) {
        return Clock::time_point::max();
    }
    return Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::nanoseconds(static_cast<std::int64_t>(when_ns_))));
}

void Deadline::reschedule(Clock::time_point when) { reschedule_ns(to_ns(when)); }

void Deadline::reschedule_ns(std::uint64_t when_ns) {
    if (expired_) {
        throw InvalidStateError("Deadline::reschedule(): the deadline already expired");
    }
    if (left_) {
        throw InvalidStateError("Deadline::reschedule(): the work it bounded has ended");
    }
    when_ns_ = when_ns;
    if (entered_) {
        if (armed()) {
            detail::disarm_timer(detail::LoopCore::of(*task_), this);
        }
        arm();
    }
}

void Deadline::enter(const char* operation) {
    detail::TaskState* task = detail::current_task();
    if (task == nullptr) {
        detail::throw_outside_task(operation);
    }
    if (entered_) {
        throw InvalidStateError(std::string(operation) +
                                ": this Deadline was already used (it bounds one piece of work)");
    }
    entered_ = true;
    task_ = task;
    // A request still waiting for delivery is counted in cancelling() but is not "handled": if
    // the work receives it, the deadline must not take it for its own (the count would match).
    cancelling_at_entry_ = task->cancelling() - (task->cancel_requested() ? 1 : 0);
    try {
        arm();
    } catch (...) {
        left_ = true;  // the work never starts
        throw;
    }
}

void Deadline::arm() {
    if (when_ns_ == UINT64_MAX) {
        return;
    }
    if (when_ns_ <= detail::deadline_clock_ns()) {
        expire();  // already past: the first suspension point of the work throws
        return;
    }
    deadline_ns = when_ns_;
    on_fire = &on_timer;
    detail::arm_timer(detail::LoopCore::of(*task_), this);
}

void Deadline::on_timer(detail::TimerNode* node) noexcept { static_cast<Deadline*>(node)->expire(); }

void Deadline::expire() noexcept {
    expired_ = true;
    pending_at_fire_ = task_->cancel_requested();
    cancelling_after_fire_ = task_->cancelling() + 1;
    try {
        // keep_pending_reason: if another request waits for delivery, the work sees its message
        // and kind, and our count still makes the exit rule below propagate it.
        task_->request_cancel("deadline expired", CancelKind::timeout, true);
    } catch (...) {
        // Out of memory recording the message: the task is not cancelled; treat as not expired.
        expired_ = false;
    }
}

Deadline::Exit Deadline::leave(bool failed, bool is_cancel) noexcept {
    left_ = true;
    if (armed()) {
        detail::disarm_timer(detail::LoopCore::of(*task_), this);
    }
    if (!expired_) {
        return Exit::deliver;
    }
    const int before = task_->cancelling();
    const int after = task_->uncancel();
    // Our request was never delivered (no request arrived since ours and none was pending when we
    // fired): withdraw it, or it would hit the task's next suspension point after this scope.
    // uncancel() already did so if the count reached 0.
    const bool newer_request = before > cancelling_after_fire_;
    if (!pending_at_fire_ && !newer_request && task_->cancel_requested()) {
        try {
            (void)task_->take_cancel();
        } catch (...) {
            // copying the message failed: the request stays pending (one spurious delivery)
        }
    }
    if (after <= cancelling_at_entry_) {
        // Nobody else asked: a CancelledError out of the work is ours → TimeoutError.
        return failed && is_cancel ? Exit::timed_out : Exit::deliver;
    }
    // Somebody else asked too: the CancelledError propagates. If their request arrived after ours
    // and still waits for delivery, deliver it now, with its own message and kind, instead of the
    // deadline's error (which was withdrawn by uncancel above).
    if (failed && is_cancel && newer_request && task_->cancel_deliverable()) {
        return Exit::deliver_pending_cancel;
    }
    return Exit::deliver;
}

void Deadline::throw_for(Exit exit, const char* operation) const {
    if (exit == Exit::deliver_pending_cancel) {
        throw task_->take_cancel();
    }
    throw TimeoutError(std::string(operation) + ": the deadline expired");
}

}  // namespace uvtask
