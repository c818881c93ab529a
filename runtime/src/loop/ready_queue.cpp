// The ready queue: drained from a libuv check handle, one time-bounded batch per loop iteration
// (an idle handle keeps the poll from blocking while tasks are ready); and checkpoint()'s time
// slice.
#include <uv.h>

#include <algorithm>
#include <cstdint>

#include "loop/loop_handles.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

namespace {
constexpr std::uint64_t batch_budget_ns = 50'000;  // the fairness bound: timers and I/O wait ≤ ~50 µs
}  // namespace

// The idle handle only keeps libuv's poll from blocking while tasks are ready; the queue is
// drained in the check phase alone, so that exactly one batch (≤ ~50 µs) separates two polls.
// (Draining in both phases let two batches, ~100 µs, pass between polls.)
void LoopHandles::on_check(uv_check_t* handle) noexcept {
    LoopCore* core = core_of(handle->data);
    if (core != nullptr && core->ready_head_ != nullptr) {
        core->drain();
    }
}

void LoopCore::arm_wake() noexcept {
    if (handles_ == nullptr) {
        return;
    }
    uv_idle_start(&handles_->idle, &LoopHandles::on_idle);
    wake_armed_ = true;
}

void LoopCore::drain() noexcept {
    if (draining_) {
        return;
    }
    draining_ = true;
    ++drains_;
    const std::uint64_t start = monotonic_ns();
    std::uint64_t last = start;
    drain_clock_ns_ = start;
    std::uint32_t countdown = batch_stride_;
    while (ready_head_ != nullptr) {
        if (schedule_seed_ != 0) [[unlikely]] {
            // A seed: the queue is run in rounds, each shuffled as it starts
            // (src/loop/schedule_seed.cpp); popping the round's last task ends it.
            if (round_end_ == nullptr) {
                shuffle_round();
            }
            if (ready_head_ == round_end_) {
                round_end_ = nullptr;
            }
        }
        TaskState* task = ready_head_;
        ready_head_ = task->next_ready;
        if (ready_head_ == nullptr) {
            ready_tail_ = nullptr;
        }
        tls_current_task = task;
        slice_countdown_ = 1;  // a new time slice for checkpoint()
        slice_started_ns_ = 0;
        if (!watched_steps_) [[likely]] {
            task->run_step();  // `task` may be gone after this
        } else {
            run_watched_step(task);
        }
        if (--countdown == 0) {
            // The clock is read every `batch_stride_` resumes, the stride adapting so that a
            // batch reads it about eight times: cheap yields, and long steps still bounded.
            const std::uint64_t now = monotonic_ns();
            drain_clock_ns_ = now;
            if (now - start >= batch_budget_ns) {
                break;
            }
            const std::uint64_t per_step = std::max<std::uint64_t>(1, (now - last) / batch_stride_);
            batch_stride_ = static_cast<std::uint32_t>(
                std::clamp<std::uint64_t>(batch_budget_ns / 8 / per_step, 1, 1024));
            countdown = batch_stride_;
            last = now;
        }
    }
    tls_current_task = nullptr;
    draining_ = false;
    if (ready_head_ == nullptr && wake_armed_ && handles_ != nullptr) {
        uv_idle_stop(&handles_->idle);
        wake_armed_ = false;
    }
}

bool LoopCore::slice_check_clock() noexcept {
    const std::uint64_t now = monotonic_ns();
    if (slice_started_ns_ == 0) {
        // The task's first clock read since it was resumed. Its slice began at the resume, not
        // now (work before the first checkpoint counts); the ready queue's last clock read is
        // a free bound no later than the resume, so a checkpoint may yield early, never late.
        slice_started_ns_ = drain_clock_ns_ != 0 ? drain_clock_ns_ : now;
        slice_last_ns_ = now;
        slice_countdown_ = slice_stride_;
        return now - slice_started_ns_ >= time_slice_ns_;
    }
    if (now - slice_started_ns_ >= time_slice_ns_) {
        slice_countdown_ = 1;
        return true;
    }
    // Aim at about eight clock reads per slice, whatever the rate of checkpoints.
    const std::uint64_t per_call =
        std::max<std::uint64_t>(1, (now - slice_last_ns_) / slice_stride_);
    const std::uint64_t wanted = std::max<std::uint64_t>(1, time_slice_ns_ / 8 / per_call);
    slice_stride_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, 1u << 16));
    slice_last_ns_ = now;
    slice_countdown_ = slice_stride_;
    return false;
}

}  // namespace uvtask::detail
