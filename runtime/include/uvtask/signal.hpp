// uvtask — wait_signal(signum): wait for a POSIX signal (uv_signal_t) as a cancellable awaitable.
#pragma once

#include <coroutine>

#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

namespace detail {

struct SignalOp;

class SignalAwaiter : public IoAwaiter {
public:
    explicit SignalAwaiter(int signum) noexcept : signum_(signum) {}
    ~SignalAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    int await_resume();
    void on_signal() noexcept;

private:
    static void on_cancel(Suspension* self) noexcept;
    int signum_;
    SignalOp* op_ = nullptr;  // the uv_signal_t (heap: freed by its close callback)
};

}  // namespace detail

/// Waits until the process receives signal `signum` (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGUSR1`…)
/// and returns it. While a task waits, the signal is handled by libuv (its default action —
/// e.g. terminating the process — does not happen); a signal arriving when nobody waits gets
/// its usual disposition (a `SIGUSR1` then kills the process), so keep a task waiting in a
/// loop, or use `run()`'s own SIGINT handling (it cancels the main task). Several tasks may
/// wait for the same signal: each wakes.
///
/// A suspension point. Cancelled while waiting: the watcher is stopped and closed,
/// `CancelledError`. If the signal was delivered before the cancel reached the wait, it is
/// returned (atomic completion) and the cancel waits for the next suspension point.
/// Throws `IoError` (operation "wait_signal": `EINVAL` for an invalid signal or one that cannot
/// be caught, like SIGKILL) and `InvalidStateError` outside a task.
[[nodiscard]] inline detail::SignalAwaiter wait_signal(int signum) noexcept {
    return detail::SignalAwaiter{signum};
}

}  // namespace uvtask
