// The loop's timers: arming and firing deadlines, and the deadline clock — real, or virtual
// (docs: `Loop::set_virtual_time`).
#include "time/timer_service.hpp"

#include <algorithm>
#include <memory>

#include "uvtask/clock.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/loop.hpp"

namespace uvtask::detail {

namespace {
constexpr std::uint64_t ns_per_ms = 1'000'000;
}  // namespace

TimerService::TimerService(LoopCore& loop) : core_(loop), loop_(loop.native()) {
    // None of these can fail on a valid loop.
    uv_timer_init(loop_, &timer_);
    uv_prepare_init(loop_, &prepare_);
    uv_timer_init(loop_, &io_idle_);
    // The idle threshold never keeps the loop alive: the prepare handle does, while virtual
    // timers are armed.
    uv_unref(reinterpret_cast<uv_handle_t*>(&io_idle_));
    timer_.data = prepare_.data = io_idle_.data = this;
}

void TimerService::arm(TimerNode* node) {
    if (queue_.push(node)) {
        rearm();
    }
}

void TimerService::disarm(TimerNode* node) noexcept {
    if (node->armed() && queue_.erase(node)) {
        rearm();
    }
}

void TimerService::rearm() noexcept {
    if (closed_) {
        return;
    }
    if (virtual_) {
        // The clock moves only in consider_jump(), before a poll: keep a prepare handle while a
        // timer is armed (it also keeps the loop alive, as the real timer would).
        if (queue_.empty()) {
            uv_prepare_stop(&prepare_);
            uv_timer_stop(&io_idle_);
        } else {
            uv_prepare_start(&prepare_, &TimerService::on_prepare);  // a no-op if started
        }
        return;
    }
    if (queue_.empty()) {
        uv_timer_stop(&timer_);
        return;
    }
    // uv_now() counts whole milliseconds and never runs ahead of the monotonic clock, so
    // waiting until uv_now() >= the bucket's millisecond never fires before a deadline.
    const std::uint64_t due_ms = queue_.earliest_ms();
    const std::uint64_t now_ms = uv_now(loop_);
    std::uint64_t timeout = due_ms > now_ms ? due_ms - now_ms : 0;
    if (timeout == 0 && due_ms * ns_per_ms > now_ns()) {
        timeout = 1;  // uv_now() is behind the clock: don't spin
    }
    uv_timer_start(&timer_, &TimerService::on_timer, timeout, 0);
}

void TimerService::on_timer(uv_timer_t* handle) noexcept {
    static_cast<TimerService*>(handle->data)->fire();
}

void TimerService::fire() noexcept {
    const std::uint64_t now_ms = now_ns() / ns_per_ms;
    while (TimerNode* node = queue_.pop_due(now_ms)) {
        node->on_fire(node);
    }
    rearm();
}

void TimerService::set_virtual_time(bool enabled, std::uint64_t io_idle_ns) {
    if (closed_) {
        throw InvalidStateError("Loop::set_virtual_time(): the loop is closed");
    }
    if (enabled != virtual_) {
        if (!queue_.empty()) {
            throw InvalidStateError(
                "Loop::set_virtual_time(): a sleep or a deadline is armed; switch the clock "
                "before any is");
        }
        const std::uint64_t real_ns = monotonic_ns();
        if (enabled) {
            // From the next whole millisecond (deadlines fall in millisecond buckets: from a
            // whole start, `sleep(1s)` ends exactly 1 s later), never behind the real clock.
            virtual_now_ns_ = (real_ns + ns_per_ms - 1) / ns_per_ms * ns_per_ms;
        } else if (virtual_now_ns_ > real_ns) {
            throw InvalidStateError(
                "Loop::set_virtual_time(false): the virtual clock is ahead of real time; "
                "switching back would move the loop's clock backwards");
        }
        virtual_ = enabled;
        uv_timer_stop(&timer_);
        uv_prepare_stop(&prepare_);
        uv_timer_stop(&io_idle_);
    }
    io_idle_ns_ = io_idle_ns;
}

void TimerService::on_prepare(uv_prepare_t* handle) noexcept {
    static_cast<TimerService*>(handle->data)->consider_jump(false);
}

void TimerService::on_io_idle(uv_timer_t* handle) noexcept {
    static_cast<TimerService*>(handle->data)->consider_jump(true);
}

bool TimerService::io_pending() noexcept {
    // Would the loop stay alive without this service's own prepare handle? Whatever else is
    // referenced and active — a read, a child process, a thread-pool job, a handle being closed,
    // a wake-up another thread is to send — may still complete and wake a task.
    auto* prepare = reinterpret_cast<uv_handle_t*>(&prepare_);
    uv_unref(prepare);
    const bool alive = uv_loop_alive(loop_) != 0;
    uv_ref(prepare);
    return alive;
}

void TimerService::consider_jump(bool io_idle_elapsed) noexcept {
    while (virtual_ && !closed_ && !queue_.empty()) {
        // Tasks run first, and so does the work other threads (or this one, `Loop::post`) have
        // handed in: the poll that follows takes it in. The clock waits.
        if (core_.has_ready_tasks() || core_.inbox_has_work()) {
            uv_timer_stop(&io_idle_);
            return;
        }
        if (!io_idle_elapsed && io_idle_ns_ > 0 && io_pending()) {
            // Idle means no task ran: (re)started when tasks ran since it was started, left
            // running while the loop only turns for handles that wake no task (an application's
            // idle handle or fast timer would otherwise hold the jump forever).
            const std::uint64_t drains = core_.drains();
            if (drains != idle_since_drains_ ||
                uv_is_active(reinterpret_cast<uv_handle_t*>(&io_idle_)) == 0) {
                idle_since_drains_ = drains;
                const std::uint64_t ms = (io_idle_ns_ + ns_per_ms - 1) / ns_per_ms;
                uv_timer_start(&io_idle_, &TimerService::on_io_idle, ms, 0);
            }
            return;
        }
        uv_timer_stop(&io_idle_);
        // Nothing can happen before the earliest deadline: jump to it. Again if what fired woke
        // nobody (a poll now would block with no timer to end it).
        virtual_now_ns_ = std::max(virtual_now_ns_, queue_.earliest_ms() * ns_per_ms);
        fire();
        io_idle_elapsed = false;
    }
}

void TimerService::close() noexcept {
    closed_ = true;
    queue_.clear();  // a node armed outside a task frame (a Deadline object) is left unarmed
    const uv_close_cb on_closed = [](uv_handle_t* handle) noexcept {
        auto* self = static_cast<TimerService*>(handle->data);
        if (--self->open_handles_ == 0) {
            std::unique_ptr<TimerService> owned(self);
        }
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&io_idle_), on_closed);
}

void arm_timer(LoopCore& loop, TimerNode* node) { loop.service<TimerService>().arm(node); }

void disarm_timer(LoopCore& loop, TimerNode* node) noexcept {
    if (!node->armed()) {
        return;
    }
    if (TimerService* timers = loop.find_service<TimerService>()) {
        timers->disarm(node);
    }
}

std::uint64_t deadline_clock_ns() noexcept {
    if (LoopCore* loop = current_loop()) {
        if (const TimerService* timers = loop->find_service<TimerService>()) {
            return timers->now_ns();
        }
    }
    return monotonic_ns();
}

}  // namespace uvtask::detail

namespace uvtask {

LoopClock::time_point LoopClock::now() noexcept {
    // A virtual clock that jumped to a deadline ~292 years out stops at the end of the range.
    const std::uint64_t ns = std::min<std::uint64_t>(detail::deadline_clock_ns(), INT64_MAX);
    return time_point(duration(static_cast<rep>(ns)));
}

void Loop::set_virtual_time(bool enabled, std::chrono::nanoseconds io_idle_threshold) {
    if (io_idle_threshold.count() < 0) {
        throw InvalidDurationError("Loop::set_virtual_time(): the I/O idle threshold is negative");
    }
    detail::LoopCore& core = detail::LoopAccess::core(*this);
    core.service<detail::TimerService>().set_virtual_time(
        enabled, static_cast<std::uint64_t>(io_idle_threshold.count()));
}

}  // namespace uvtask
