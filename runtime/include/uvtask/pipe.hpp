// uvtask — pipes: PipeStream (a Unix domain socket or a pipe) and PipeListener (uv_pipe_t).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <string>

#include "uvtask/listener.hpp"
#include "uvtask/stream.hpp"

namespace uvtask {

/// A connected Unix domain socket or pipe (`uv_pipe_t`): a `Stream` with the same interface and
/// cancellation rules as `TcpStream`. A child process's stdio pipes are PipeStreams too.
/// Move-only; belongs to its loop's thread.
class PipeStream : public Stream {
public:
    /// An empty stream (behaves as a closed one).
    /// At once; not a suspension point; throws nothing; any thread.
    PipeStream() noexcept = default;

    /// Connects to the Unix domain socket at `path` (`uv_pipe_connect`) and returns the
    /// connected stream.
    ///
    /// Completes when: the connection is established or has failed.
    /// Suspension point: yes; a pending cancel is thrown at once, before connecting.
    /// On cancel: as for `TcpStream::connect`: the handle is closed and, once libuv has called
    /// the request back, `CancelledError` is thrown; a connection established before the cancel
    /// reached it is returned (atomic completion) and the cancel waits for the next suspension
    /// point.
    /// Throws: `IoError` (operation "connect", detail the path): `ENOENT` (no such socket),
    /// `ECONNREFUSED` (nobody listens), `ENAMETOOLONG` (longer than 107 bytes), `EINVAL` (a NUL byte in it);
    /// `CancelledError`; `InvalidStateError` outside a task; `std::bad_alloc` (at the call).
    /// Thread safety: the awaiting task's loop thread.
    [[nodiscard]] static detail::ConnectAwaiter<PipeStream> connect(std::string path) {
        return detail::ConnectAwaiter<PipeStream>{std::move(path)};
    }

private:
    friend struct detail::StreamAccess;
    explicit PipeStream(detail::StreamCore* adopted) noexcept : Stream(adopted) {}
};

/// A listening Unix domain socket. Same accept semantics as `TcpListener`. Closing it does not
/// remove the socket file: remove it yourself (a later `bind` to an existing path fails with
/// `EADDRINUSE`). Move-only; belongs to its loop's thread.
class PipeListener : public Listener {
public:
    /// An empty listener (behaves as a closed one).
    /// At once; not a suspension point; throws nothing; any thread.
    PipeListener() noexcept = default;

    /// Creates the socket file at `path` and listens; connections queue in the kernel from then
    /// on (up to `backlog`).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `IoError` (operation "bind"/"listen", detail the path: `EADDRINUSE`, `EACCES`,
    /// `ENAMETOOLONG` for a path of 108 bytes or more…); `InvalidStateError` when the thread
    /// has no uvtask Loop or it is closed; `std::bad_alloc`.
    /// Thread safety: the loop's thread; the listener then belongs to it.
    [[nodiscard]] static PipeListener bind(std::string path, int backlog = 128);

    /// Waits for the next connection and returns it as a connected stream.
    ///
    /// Completes when: a connection is accepted — at once if one is already waiting.
    /// Suspension point: yes.
    /// On cancel: as `TcpListener::accept`: while waiting, `CancelledError` and no connection
    /// is taken; a connection accepted for this task before the cancel reached it is returned
    /// (atomic completion) and the cancel waits for the next suspension point.
    /// Throws: `IoError` (`EBADF` when closed, `ECANCELED` if closed while waiting, `EMFILE`…);
    /// `CancelledError`; `InvalidStateError` outside a task. Calling `accept()` throws nothing.
    /// Thread safety: the listener's loop thread.
    [[nodiscard]] detail::AcceptAwaiter<PipeStream> accept() noexcept {
        return detail::AcceptAwaiter<PipeStream>{core_};
    }

    /// The path given to `bind` (empty for an empty listener).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    explicit PipeListener(detail::ListenerCore* adopted, std::string path) noexcept
        : Listener(adopted), path_(std::move(path)) {}
    std::string path_;
};

}  // namespace uvtask
