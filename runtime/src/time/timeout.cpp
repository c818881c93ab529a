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
    if (!entered_) {
        when_ns_ = when_ns;  // armed when the work starts
        return;
    }
    const std::uint64_t previous = when_ns_;
    const bool was_armed = armed();
    if (was_armed) {
        detail::disarm_timer(detail::LoopCore::of(*task_), this);
    }
    when_ns_ = when_ns;
    try {
        arm();
    } catch (...) {
        // Out of memory for the new timer: keep the deadline it had. If even that cannot be
        // armed again, expire now — a deadline must never be left unarmed, firing never.
        when_ns_ = previous;
        if (was_armed) {
            try {
                arm();
            } catch (...) {
                expire();
            }
        }
        throw;
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
    scope_.enter(*task);
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

void Deadline::on_timer(detail::TimerNode* node) noexcept {
    static_cast<Deadline*>(node)->expire();
}

void Deadline::expire() noexcept {
    expired_ = true;
    // A request already waiting for delivery keeps its message and kind (the work sees who else
    // asked), and our count still makes the exit rule below propagate it.
    scope_.cancel("deadline expired", CancelKind::timeout);
}

Deadline::Exit Deadline::leave(bool failed, bool is_cancel) noexcept {
    left_ = true;
    if (armed()) {
        detail::disarm_timer(detail::LoopCore::of(*task_), this);
    }
    if (!expired_) {
        return Exit::deliver;
    }
    // Withdraws our request atomically with any cancel() from another thread; an undelivered
    // request of ours is dropped, so no stray CancelledError hits the task after this scope.
    const detail::CancelScope::Exit exit = scope_.leave();
    if (!exit.others) {
        // Nobody else asked: a CancelledError out of the work is ours → TimeoutError.
        return failed && is_cancel ? Exit::timed_out : Exit::deliver;
    }
    // Somebody else asked too: the CancelledError propagates. If their request arrived after ours
    // and still waits for delivery, deliver it now, with its own message and kind, instead of the
    // deadline's error.
    if (failed && is_cancel && exit.newer_pending) {
        return Exit::deliver_pending_cancel;
    }
    return Exit::deliver;
}

void Deadline::abandon() noexcept {
    if (!left_) {
        left_ = true;
        if (armed()) {
            detail::disarm_timer(detail::LoopCore::of(*task_), this);
        }
    }
}

detail::Propagation Deadline::ending_for(Exit exit, const char* operation) const noexcept {
    if (exit == Exit::deliver_pending_cancel) {
        return detail::Propagation::of_cancel(task_->take_cancel());
    }
    // No throw: the TimeoutError is built in place (thrown once, by a plain co_await of ours).
    try {
        return detail::Propagation::of_error(std::make_exception_ptr(
            TimeoutError(std::string(operation) + ": the deadline expired")));
    } catch (...) {
        return detail::Propagation::of_error(std::current_exception());  // out of memory
    }
}

}  // namespace uvtask
