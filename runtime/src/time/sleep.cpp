// sleep()/sleep_until(): a TimerNode in the awaiter, in the loop's timer queue.
#include "uvtask/sleep.hpp"

#include <cstdint>
#include <cstdio>
#include <string>

namespace uvtask::detail {

namespace {
constexpr WaitInfo sleep_wait{"sleep", &SleepAwaiter::describe};
}  // namespace

void SleepAwaiter::describe(const Suspension& self, std::string& out) {
    const auto& sleeper = static_cast<const SleepAwaiter&>(self);
    if (sleeper.deadline_ns == UINT64_MAX) {
        out += " (forever)";
        return;
    }
    const std::uint64_t now = deadline_clock_ns();
    const std::uint64_t left = sleeper.deadline_ns > now ? sleeper.deadline_ns - now : 0;
    char text[48];
    std::snprintf(text, sizeof text, " (%.1f ms left)", static_cast<double>(left) / 1e6);
    out += text;
}

SleepAwaiter::~SleepAwaiter() {
    if (armed()) {
        disarm_timer(LoopCore::of(*task_), this);
    }
}

bool SleepAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (delay_ns_ >= static_cast<std::uint64_t>(INT64_MAX)) {
        // ~292 years or more: forever, as a Deadline's (no timer: only a cancel ends it).
        deadline_ns = UINT64_MAX;
        park(resume_at, &on_cancel_hook, sleep_wait);
        return true;
    }
    const std::uint64_t now = deadline_clock_ns();
    deadline_ns = delay_ns_ > UINT64_MAX - now ? UINT64_MAX : now + delay_ns_;
    on_fire = &on_timer;
    try {
        arm_timer(LoopCore::of(*task_), this);
    } catch (...) {
        // Out of memory for the timer queue: behave as a zero sleep rather than lose the task.
        park(resume_at, &on_cancel_hook, sleep_wait);
        wake(Status::completed);
        return true;
    }
    park(resume_at, &on_cancel_hook, sleep_wait);
    return true;
}

void SleepAwaiter::on_timer(TimerNode* node) noexcept {
    static_cast<SleepAwaiter*>(node)->wake(Status::completed);
}

void SleepAwaiter::on_cancel_hook(Suspension* self) noexcept {
    auto* sleeper = static_cast<SleepAwaiter*>(self);
    disarm_timer(LoopCore::of(*sleeper->task_), sleeper);
    sleeper->wake(Status::cancelled);
}

}  // namespace uvtask::detail
