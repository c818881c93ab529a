// uvtask internals — a deadline in its loop's timers (the time layer's part of a sleep or a
// Deadline), and the loop's deadline clock.
#pragma once

#include <cstdint>

#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

/// A deadline in a loop's timers, living in the sleeping task's awaiter or in a `Deadline` (no
/// allocation per timer). Loop thread only.
struct TimerNode : ListHook<TimerNode> {
    using FireHook = void (*)(TimerNode*) noexcept;
    std::uint64_t deadline_ns = 0;  // on the loop's deadline clock (`deadline_clock_ns`)
    FireHook on_fire = nullptr;     // called from the loop's timer callback when due
    void* bucket = nullptr;         // the time layer's; null when not armed
    [[nodiscard]] bool armed() const noexcept { return bucket != nullptr; }
};

/// Arms `node` (its `deadline_ns` and `on_fire` set) in `loop`'s timers: `on_fire` runs from the
/// loop's timer callback on the first loop iteration at or after the deadline, never before.
/// Throws `std::bad_alloc`, and `InvalidStateError` once the loop is closed.
void arm_timer(LoopCore& loop, TimerNode* node);
/// Disarms `node` if it is armed. O(1). Once the loop's timers are closed (teardown), every node
/// still armed has been disarmed, so this touches nothing.
void disarm_timer(LoopCore& loop, TimerNode* node) noexcept;

/// Now, on the clock deadlines are measured in: the current loop's (the seam a virtual clock
/// plugs into), or the monotonic clock on a thread without a loop.
[[nodiscard]] std::uint64_t deadline_clock_ns() noexcept;

}  // namespace uvtask::detail
