// The shared state behind a Listener: the listening handle and the FIFO of waiting accepts.
#pragma once

#include <uv.h>

#include "io/stream_core.hpp"
#include "uvtask/listener.hpp"

namespace uvtask::detail {

/// A listening TCP or pipe handle. Reference-counted like `StreamCore`: the Listener, each
/// accept awaiter, and libuv from a successful init until the close callback.
class ListenerCore {
public:
    /// One reference (the caller's), handle not initialised. std::bad_alloc.
    [[nodiscard]] static ListenerCore* create(StreamKind kind);
    explicit ListenerCore(StreamKind kind) noexcept : kind_(kind) {}
    ListenerCore(const ListenerCore&) = delete;
    ListenerCore& operator=(const ListenerCore&) = delete;
    ~ListenerCore() = default;

    void retain() noexcept { ++refs_; }
    void release() noexcept;
    /// Initialises the handle. For TCP, `domain` (`AF_INET`, `AF_INET6`) creates the socket at
    /// once (`uv_tcp_init_ex`), so options can be set before `bind`; `AF_UNSPEC` defers it.
    [[nodiscard]] int init(uv_loop_t* loop, int domain = AF_UNSPEC) noexcept;
    [[nodiscard]] int listen(int backlog) noexcept;
    /// Closes the handle (idempotent); waiting accepts get ECANCELED.
    void close() noexcept;
    [[nodiscard]] bool closed() const noexcept { return closing_ || !initialised_; }

    [[nodiscard]] uv_stream_t* stream() noexcept { return &handle_.stream; }
    [[nodiscard]] uv_tcp_t* tcp() noexcept { return &handle_.tcp; }
    [[nodiscard]] uv_pipe_t* pipe() noexcept { return &handle_.pipe; }

    /// A connection (or an accept error) is waiting to be taken.
    [[nodiscard]] bool ready() const noexcept { return pending_ > 0 || error_ != 0; }
    /// Takes the waiting connection into a new stream core (`*out`, one reference) or returns
    /// the error (a stored accept error, `UV_EAGAIN` if there was none after all).
    [[nodiscard]] int take(StreamCore** out) noexcept;
    void enqueue(AcceptAwaiterBase* waiter) noexcept;
    void remove(AcceptAwaiterBase* waiter) noexcept;

private:
    static void on_connection(uv_stream_t* server, int status) noexcept;
    static void on_closed(uv_handle_t* handle) noexcept;
    void serve_waiters() noexcept;

    union Handle {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } handle_{};
    int refs_ = 1;
    StreamKind kind_;
    bool initialised_ = false;
    bool closing_ = false;
    int pending_ = 0;  // connections libuv announced and nobody took yet
    int error_ = 0;    // an accept error nobody was waiting for
    AcceptAwaiterBase* head_ = nullptr;
    AcceptAwaiterBase* tail_ = nullptr;
};

}  // namespace uvtask::detail
