// uvtask — Listener: a listening socket (TCP or Unix) whose accept() is a cancellable awaitable.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <coroutine>
#include <string>

#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

namespace detail {

class ListenerCore;
class StreamCore;

/// `accept()`: waits for a connection, resumes with the accepted stream's core.
class AcceptAwaiterBase : public IoAwaiter {
public:
    explicit AcceptAwaiterBase(ListenerCore* core) noexcept;
    ~AcceptAwaiterBase();
    AcceptAwaiterBase(const AcceptAwaiterBase&) = delete;
    AcceptAwaiterBase& operator=(const AcceptAwaiterBase&) = delete;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    /// Called by the listener when a connection was accepted for this waiter (or failed).
    void on_accepted(int status, StreamCore* accepted) noexcept;
    /// `WaitInfo::detail`: the listener's kind and file descriptor.
    static void describe(const Suspension& self, std::string& out);

    AcceptAwaiterBase* prev = nullptr;  // the listener's FIFO of waiting accepts
    AcceptAwaiterBase* next = nullptr;
    bool linked = false;

protected:
    /// The accepted core (its reference handed over), or throws.
    StreamCore* resume_core();

private:
    static void on_cancel(Suspension* self) noexcept;
    ListenerCore* core_;  // one reference
    StreamCore* accepted_ = nullptr;
};

/// The awaiter of `accept()`, resuming with a `T` (TcpStream, PipeStream).
template <class T>
class AcceptAwaiter : public AcceptAwaiterBase {
public:
    using AcceptAwaiterBase::AcceptAwaiterBase;
    T await_resume() { return StreamAccess::adopt<T>(resume_core()); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

}  // namespace detail

/// What `TcpListener` and `PipeListener` share: a listening libuv stream handle. Listening starts
/// when the listener is created; connections that arrive before `accept()` is awaited wait in the
/// kernel's backlog. Move-only; belongs to its loop's thread. `close()` or the destructor closes
/// the handle at once (libuv frees it later, in its close callback); tasks waiting in `accept()`
/// then get `IoError` `ECANCELED`, and `accept()` on a closed listener throws `IoError` `EBADF`.
class Listener {
public:
    Listener() noexcept = default;
    Listener(Listener&& other) noexcept;
    Listener& operator=(Listener&& other) noexcept;
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;
    ~Listener();

    /// Stops listening and closes the handle. Not a suspension point; never throws; idempotent.
    void close() noexcept;
    /// False once closed (or for an empty listener).
    [[nodiscard]] bool is_open() const noexcept;
    /// The libuv handle (null when closed). Expert use.
    [[nodiscard]] uv_stream_t* native_handle() const noexcept;

protected:
    explicit Listener(detail::ListenerCore* adopted) noexcept : core_(adopted) {}
    detail::ListenerCore* core_ = nullptr;  // one reference
};

}  // namespace uvtask
