// The loop's timers: arming and firing deadlines, and the deadline clock.
#include "time/timer_service.hpp"

#include <memory>

namespace uvtask::detail {

TimerService::TimerService(LoopCore& loop) : loop_(loop.native()) {
    uv_timer_init(loop_, &timer_);  // cannot fail on a valid loop
    timer_.data = this;
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
    if (queue_.empty()) {
        uv_timer_stop(&timer_);
        return;
    }
    // uv_now() counts whole milliseconds and never runs ahead of the monotonic clock, so
    // waiting until uv_now() >= the bucket's millisecond never fires before a deadline.
    const std::uint64_t due_ms = queue_.earliest_ms();
    const std::uint64_t now_ms = uv_now(loop_);
    std::uint64_t timeout = due_ms > now_ms ? due_ms - now_ms : 0;
    if (timeout == 0 && due_ms * 1'000'000 > now_ns()) {
        timeout = 1;  // uv_now() is behind the clock: don't spin
    }
    uv_timer_start(&timer_, &TimerService::on_timer, timeout, 0);
}

void TimerService::on_timer(uv_timer_t* handle) noexcept {
    static_cast<TimerService*>(handle->data)->fire();
}

void TimerService::fire() noexcept {
    const std::uint64_t now_ms = now_ns() / 1'000'000;
    while (TimerNode* node = queue_.pop_due(now_ms)) {
        node->on_fire(node);
    }
    rearm();
}

void TimerService::close() noexcept {
    closed_ = true;
    queue_.clear();  // a node armed outside a task frame (a Deadline object) is left unarmed
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* handle) noexcept {
        std::unique_ptr<TimerService> owned(static_cast<TimerService*>(handle->data));
    });
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
