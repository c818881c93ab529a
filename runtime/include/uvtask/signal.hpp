// uvtask — POSIX signals: wait_signal(signum) for one signal, SignalReceiver for a stream of them,
// over one uv_signal_t per signal number that a loop keeps for its whole life.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <cstddef>
#include <initializer_list>

#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

namespace detail {

class SignalRegistration;  // a loop's uv_signal_t for one signal number
class SignalReceiverCore;  // what a SignalReceiver has received and not yet returned

/// `wait_signal(signum)`: a waiter in its signal's registration.
class SignalAwaiter : public IoAwaiter, public ListHook<SignalAwaiter> {
public:
    explicit SignalAwaiter(int signum) noexcept : signum_(signum) {}
    SignalAwaiter(const SignalAwaiter&) = delete;
    SignalAwaiter& operator=(const SignalAwaiter&) = delete;
    ~SignalAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    int await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
    /// Called by the registration (already unlinked) when the signal arrives.
    void on_signal() noexcept;

private:
    static void on_cancel(Suspension* self) noexcept;
    int signum_;
    SignalRegistration* registration_ = nullptr;  // while waiting in it
};

/// `SignalReceiver::receive()`.
class SignalReceiveAwaiter : public IoAwaiter {
public:
    explicit SignalReceiveAwaiter(SignalReceiverCore* core) noexcept;
    SignalReceiveAwaiter(const SignalReceiveAwaiter&) = delete;
    SignalReceiveAwaiter& operator=(const SignalReceiveAwaiter&) = delete;
    ~SignalReceiveAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    int await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }

private:
    static void on_cancel(Suspension* self) noexcept;
    SignalReceiverCore* core_;  // one reference
};

}  // namespace detail

/// Waits until the process receives signal `signum` (`SIGINT`, `SIGTERM`, `SIGHUP`, `SIGUSR1`…)
/// and returns it. Several tasks may wait for the same signal: each wakes.
///
/// The first `wait_signal(signum)` on a loop installs libuv's handler for `signum` (a
/// `uv_signal_t` the loop keeps until it tears down): from then on the signal's default action
/// (e.g. terminating the process) never happens while the loop lives, even between two waits.
/// A signal that arrives while no task waits for it is kept — at most one per signal number,
/// as POSIX coalesces pending signals — and returned at once by the next `wait_signal(signum)`.
/// So `for (;;) { co_await wait_signal(SIGHUP); co_await reload(); }` sees a SIGHUP that
/// arrives during `reload()`. For several signals, or a handler scoped to an object, use
/// `SignalReceiver`. `run()` handles SIGINT itself (it cancels the main task).
///
/// Completes when: the signal arrives (at once if one arrived since the last wait).
/// Suspension point: yes.
/// On cancel: `CancelledError`; the handler stays installed, and a
/// signal arriving later is kept for the next wait. If the signal was delivered before the
/// cancel reached the wait, it is returned (atomic completion) and the cancel waits for the
/// next suspension point.
/// Throws: `IoError` (operation "wait_signal": `EINVAL` for an invalid signal or one that cannot
/// be caught, like SIGKILL); `CancelledError`; `InvalidStateError` outside a task. Calling
/// `wait_signal` itself throws nothing.
/// Thread safety: loop thread only.
[[nodiscard]] inline detail::SignalAwaiter wait_signal(int signum) noexcept {
    return detail::SignalAwaiter{signum};
}

/// Receives the signals of a set for its whole life, like Trio's `open_signal_receiver` and
/// asyncio's `add_signal_handler`: from construction to destruction the handlers are installed
/// (the signals' default actions never happen) and every signal of the set that arrives is
/// queued for `receive()`, in arrival order — a signal arriving again before it was received
/// is coalesced with the one queued (as POSIX does). Several receivers (and `wait_signal`) may
/// watch the same signal: each gets it. Move-only; belongs to its loop's thread; an empty
/// (default or moved-from) receiver behaves as a closed one. It must be destroyed before its
/// loop ends.
class SignalReceiver {
public:
    /// An empty receiver: `receive()` throws `IoError` `EBADF`.
    /// At once; not a suspension point; throws nothing; any thread.
    SignalReceiver() noexcept = default;
    /// Installs the handlers of `signals` and starts queueing them.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `IoError` (operation "SignalReceiver", `EINVAL` for an invalid signal or one that
    /// cannot be caught); `InvalidStateError` when the thread has no running uvtask Loop;
    /// `std::bad_alloc`. Thread safety: the loop's thread.
    explicit SignalReceiver(std::initializer_list<int> signals);
    /// Takes `other`'s set and queue; `other` is empty after.
    /// At once; not a suspension point; throws nothing; loop thread only.
    SignalReceiver(SignalReceiver&& other) noexcept;
    /// Closes this receiver (see `close()`), then takes `other`'s set and queue.
    /// At once; not a suspension point; throws nothing; loop thread only.
    SignalReceiver& operator=(SignalReceiver&& other) noexcept;
    SignalReceiver(const SignalReceiver&) = delete;
    SignalReceiver& operator=(const SignalReceiver&) = delete;
    /// Closes the receiver (see `close()`).
    /// At once; not a suspension point; throws nothing; loop thread only.
    ~SignalReceiver();

    /// Returns the next signal received (its number): at once if one is queued.
    ///
    /// Completes when: a signal of the set is queued or arrives.
    /// Suspension point: yes.
    /// On cancel: `CancelledError`, nothing taken; a signal arriving later
    /// is queued for the next `receive()`. A signal delivered before the cancel reached the
    /// receive is returned (atomic completion) and the cancel waits for the next suspension
    /// point.
    /// Throws: `IoError` (`EBADF` on a closed or empty receiver, `ECANCELED` if it is closed
    /// while a task waits); `CancelledError`; `InvalidStateError` if another task is already
    /// receiving, or outside a task. Calling `receive()` itself throws nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::SignalReceiveAwaiter receive() noexcept {
        return detail::SignalReceiveAwaiter{core_};
    }

    /// Signals queued, not yet received (0 when closed or empty).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] std::size_t pending() const noexcept;
    /// Stops receiving (idempotent). Queued signals are dropped; a task waiting in `receive()`
    /// gets `IoError` `ECANCELED`. The loop's handlers stay installed (see `wait_signal`).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: loop thread only.
    void close() noexcept;
    /// False once closed (or for an empty receiver).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] bool is_open() const noexcept;

private:
    detail::SignalReceiverCore* core_ = nullptr;  // one reference
};

}  // namespace uvtask
