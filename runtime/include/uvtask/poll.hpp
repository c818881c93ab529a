// uvtask — wait_readable(fd) / wait_writable(fd): wait until a foreign non-blocking file
// descriptor is ready (uv_poll_t), built on the public Operation API.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include "uvtask/operation.hpp"

namespace uvtask {

namespace detail {
struct PollRequest;
}  // namespace detail

/// What `wait_readable` / `wait_writable` wait for (a plain value).
enum class PollFor : unsigned char { readable, writable };

/// The awaitable of `wait_readable` / `wait_writable` (an `Operation<void>`, written exactly as a
/// user would wrap a library of their own: see docs/writing-awaitables.md). Await it at once,
/// in the task that made it; loop thread only. Everything else is at `wait_readable`.
class PollAwaiter final : public Operation<void> {
public:
    /// A wait for `what` on `fd`; nothing is watched before it is awaited.
    /// At once; not a suspension point; throws nothing; any thread.
    PollAwaiter(int fd, PollFor what) noexcept : fd_(fd), what_(what) {}
    /// Releases the watch if libuv still holds it. Throws nothing; loop thread only.
    ~PollAwaiter() override;

private:
    friend struct detail::PollRequest;
    void start() override;
    void stop() noexcept override;
    void on_ready(int status) noexcept;
    void on_closed() noexcept;

    int fd_;
    PollFor what_;
    detail::PollRequest* request_ = nullptr;  // libuv's until its close callback
    int poll_status_ = 0;                     // the poll's error, or 0
    bool ready_ = false;                      // libuv reported readiness (or an error)
};

/// Waits until `fd` — a file descriptor owned by another library (a socket, a pipe, an eventfd,
/// a device) — is readable. The descriptor stays the caller's; uvtask only watches it (one
/// `uv_poll_t` per wait, closed when the wait ends). libuv puts the descriptor in non-blocking
/// mode.
///
/// Completes when: the descriptor is readable (or at end of file / hang-up / error — the read
/// that follows tells which), as libuv's `uv_poll_t` reports it.
/// Suspension point: yes; a pending cancel is thrown at once, without watching.
/// On cancel: the watch is stopped and closed; `CancelledError` once libuv has closed it. A
/// readiness reported before the cancel reached the wait is delivered (atomic completion).
/// Throws: `IoError` (operation "wait_readable": `EBADF`, `ENOTSOCK`/`EPERM` for a descriptor
/// epoll cannot watch, such as a regular file, `EEXIST` if libuv already watches it);
/// `CancelledError`; `InvalidStateError` outside a task; `std::bad_alloc`. Calling
/// `wait_readable` itself throws nothing.
/// Thread safety: the awaiting task's loop thread.
[[nodiscard]] inline PollAwaiter wait_readable(int fd) noexcept {
    return PollAwaiter{fd, PollFor::readable};
}

/// Waits until `fd` is writable; otherwise as `wait_readable` (operation "wait_writable").
///
/// Completes when: the descriptor is writable (or hang-up / error).
/// Suspension point: yes. On cancel, Throws, Thread safety: as `wait_readable`.
[[nodiscard]] inline PollAwaiter wait_writable(int fd) noexcept {
    return PollAwaiter{fd, PollFor::writable};
}

}  // namespace uvtask
