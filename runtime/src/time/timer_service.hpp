// Private: the loop's timers — one uv_timer_t driving a TimerQueue of deadlines.
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
    /// The deadline clock (real time: the monotonic clock).
    [[nodiscard]] std::uint64_t now_ns() const noexcept { return monotonic_ns(); }
    /// Disarms every node still armed and closes the uv_timer_t; frees this from its callback.
    void close() noexcept override;

private:
    void rearm() noexcept;
    void fire() noexcept;
    static void on_timer(uv_timer_t* handle) noexcept;

    uv_timer_t timer_{};
    uv_loop_t* loop_;
    TimerQueue queue_;
    bool closed_ = false;
};

}  // namespace uvtask::detail
