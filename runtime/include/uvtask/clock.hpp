// uvtask — LoopClock: the clock sleeps and deadlines are measured on (real or virtual time).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>

namespace uvtask {

/// The clock of the current loop's timers — what `sleep`, `Deadline` (`Deadline::Clock`),
/// `with_timeout`, `move_on_after` and `wait_for` measure against. On a loop in real time (the
/// default) it reads `std::chrono::steady_clock`: same epoch, same values, so a time point of
/// either converts by its `time_since_epoch()`. On a loop with virtual time on
/// (`Loop::set_virtual_time`, `RunOptions::virtual_time`) it reads that loop's virtual clock,
/// which stands still while tasks run and jumps to the next deadline when nothing is ready.
/// On a thread without a loop: `steady_clock`. A `std::chrono` Clock, steady per loop: on one
/// loop it never goes back (switching virtual time on or off included), but a time point read
/// on a loop with virtual time means nothing on another loop, nor after its loop has gone (a
/// virtual clock that jumped 48 hours is 48 hours ahead of `steady_clock`).
struct LoopClock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<LoopClock>;
    static constexpr bool is_steady = true;

    /// Now, on the current loop's timer clock (above).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: any thread (it reads that thread's loop, if any).
    [[nodiscard]] static time_point now() noexcept;
};

}  // namespace uvtask
