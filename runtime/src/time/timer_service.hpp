// Private: the loop's timers — one uv_timer_t driving a TimerQueue of deadlines, on real time or
// on the loop's virtual clock.
#pragma once

#include <uv.h>

#include <cstdint>

#include "time/timer_queue.hpp"
#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/timer_node.hpp"

namespace uvtask::detail {

class TimerService final : public LoopService {
public:
    explicit TimerService(LoopCore& loop);

    void arm(TimerNode* node);
    void disarm(TimerNode* node) noexcept;
    /// The deadline clock: the monotonic clock, or the virtual clock while virtual time is on.
    [[nodiscard]] std::uint64_t now_ns() const noexcept {
        return virtual_ ? virtual_now_ns_ : monotonic_ns();
    }
    /// Switches virtual time on or off (docs: `Loop::set_virtual_time`). Throws
    /// `InvalidStateError` while a timer is armed, or if switching off would move the clock back.
    void set_virtual_time(bool enabled, std::uint64_t io_idle_ns);
    /// Disarms every node still armed and closes the libuv handles; frees this from the last
    /// close callback.
    void close() noexcept override;

private:
    void rearm() noexcept;
    void fire() noexcept;
    /// Virtual time, before the loop polls: jump to the next deadline if nothing can happen
    /// otherwise (`io_idle_elapsed`: the loop has been idle for the I/O threshold).
    void consider_jump(bool io_idle_elapsed) noexcept;
    [[nodiscard]] bool io_pending() noexcept;
    static void on_timer(uv_timer_t* handle) noexcept;
    static void on_prepare(uv_prepare_t* handle) noexcept;
    static void on_io_idle(uv_timer_t* handle) noexcept;

    LoopCore& core_;
    uv_loop_t* loop_;
    uv_timer_t timer_{};      // real time: the earliest deadline
    uv_prepare_t prepare_{};  // virtual time, while a timer is armed: runs before each poll
    uv_timer_t io_idle_{};    // virtual time with I/O pending: the real-time idle threshold
    TimerQueue queue_;
    std::uint64_t virtual_now_ns_ = 0;
    std::uint64_t io_idle_ns_ = 0;
    std::uint64_t idle_since_drains_ = 0;  // core_.drains() when io_idle_ was last started
    int open_handles_ = 3;  // closed ones count down in close(); the last frees this
    bool virtual_ = false;
    bool closed_ = false;
};

}  // namespace uvtask::detail
