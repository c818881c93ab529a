// uvtask — sleep(duration) and sleep_until(time_point) on the loop's libuv timer.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <cmath>
#include <coroutine>
#include <cstdint>
#include <string>
#include <type_traits>

#include "uvtask/errors.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/timer_node.hpp"

namespace uvtask {

namespace detail {

class SleepAwaiter : public SuspensionPoint, private TimerNode {
public:
    /// `delay_ns` from the moment the task suspends; 0 still suspends (like `yield_now()`).
    explicit SleepAwaiter(std::uint64_t delay_ns) noexcept : delay_ns_(delay_ns) {}
    ~SleepAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume() const { finish("sleep()"); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
    /// `WaitInfo::detail`: the time left.
    static void describe(const Suspension& self, std::string& out);

private:
    static void on_timer(TimerNode* node) noexcept;
    static void on_cancel_hook(Suspension* self) noexcept;
    std::uint64_t delay_ns_;
};

/// Converts a duration to whole nanoseconds, rounding up; throws `InvalidDurationError` for a
/// negative or NaN duration; saturates at about 292 years.
template <class Rep, class Period>
[[nodiscard]] std::uint64_t checked_delay_ns(std::chrono::duration<Rep, Period> delay,
                                             const char* operation);

template <class Rep, class Period>
std::uint64_t checked_delay_ns(std::chrono::duration<Rep, Period> delay, const char* operation) {
    if constexpr (std::is_floating_point_v<Rep>) {
        if (std::isnan(delay.count())) {
            throw_invalid_duration(operation, "NaN");
        }
        const double ns = std::chrono::duration<double, std::nano>(delay).count();
        if (ns < 0) {
            throw_invalid_duration(operation, "negative");
        }
        if (ns >= 9.2e18) {
            return INT64_MAX;
        }
        return static_cast<std::uint64_t>(std::ceil(ns));
    } else {
        if (delay.count() < 0) {
            throw_invalid_duration(operation, "negative");
        }
        using Wide = std::chrono::duration<long double, std::nano>;
        if (std::chrono::duration_cast<Wide>(delay).count() >= 9.2e18L) {
            return INT64_MAX;
        }
        const auto ns = std::chrono::ceil<std::chrono::nanoseconds>(delay).count();
        return static_cast<std::uint64_t>(ns);
    }
}

}  // namespace detail

/// Suspends the current task for at least `delay` (libuv timer, millisecond resolution). The
/// duration is rounded up to whole nanoseconds; about 292 years or more (`hours::max()`, an
/// infinite `double`) means forever, as for a `Deadline`: no timer is armed, only a cancel ends
/// the sleep (and virtual time never jumps to it).
///
/// Completes when: on the first loop iteration at or after the deadline (measured from the
/// moment the task suspends), never for a forever sleep; `sleep(0)` still suspends once, like
/// `yield_now()`.
/// Suspension point: yes.
/// On cancel: a pending cancel is thrown at once, without suspending; a cancel while sleeping
/// stops the timer and throws `CancelledError` right away.
/// Throws: `InvalidDurationError` at the call (not at the `co_await`) for a negative or NaN
/// duration; `CancelledError`; `InvalidStateError` if awaited outside a uvtask task.
/// Thread safety: loop thread only (await it in a task).
template <class Rep, class Period>
[[nodiscard]] detail::SleepAwaiter sleep(std::chrono::duration<Rep, Period> delay) {
    return detail::SleepAwaiter{detail::checked_delay_ns(delay, "sleep()")};
}

/// Suspends the current task until `deadline` of `Clock` (read once, at the call).
///
/// Completes when: the deadline has passed (as `sleep(deadline - Clock::now())`); a past
/// deadline still suspends once.
/// Suspension point: yes.
/// On cancel: as `sleep`.
/// Throws: as `sleep` (a past deadline is not an error); what `Clock::now()` throws.
/// Thread safety: loop thread only (await it in a task).
template <class Clock, class Duration>
[[nodiscard]] detail::SleepAwaiter sleep_until(std::chrono::time_point<Clock, Duration> deadline) {
    const auto now = Clock::now();
    if (deadline <= now) {
        return detail::SleepAwaiter{0};
    }
    return detail::SleepAwaiter{detail::checked_delay_ns(deadline - now, "sleep_until()")};
}

}  // namespace uvtask
