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
    PipeStream() noexcept = default;
    /// Runtime use: wraps a connected core whose reference the caller hands over.
    explicit PipeStream(detail::StreamCore* adopted) noexcept : Stream(adopted) {}

    /// Connects to the Unix domain socket at `path` (`uv_pipe_connect`).
    /// A suspension point; cancellation as for `TcpStream::connect` (the handle is closed and
    /// the task resumes after libuv called the request back). Throws `IoError` (operation
    /// "connect", detail the path): `ENOENT` (no such socket), `ECONNREFUSED` (nobody listens),
    /// `ENAMETOOLONG` (longer than 107 bytes); `InvalidStateError` outside a task.
    [[nodiscard]] static detail::ConnectAwaiter<PipeStream> connect(std::string path) {
        return detail::ConnectAwaiter<PipeStream>{std::move(path)};
    }
};

/// A listening Unix domain socket. Same accept semantics as `TcpListener`. Closing it does not
/// remove the socket file: remove it yourself (a later `bind` to an existing path fails with
/// `EADDRINUSE`). Move-only; belongs to its loop's thread.
class PipeListener : public Listener {
public:
    PipeListener() noexcept = default;

    /// Creates the socket file at `path` and listens. Not a suspension point. Throws `IoError`
    /// (operation "bind"/"listen", detail the path: `EADDRINUSE`, `EACCES`, `ENAMETOOLONG`…) and
    /// `InvalidStateError` when the thread has no uvtask Loop.
    [[nodiscard]] static PipeListener bind(std::string path, int backlog = 128);

    /// Waits for the next connection; see `TcpListener::accept` for its cancellation rule.
    [[nodiscard]] detail::AcceptAwaiter<PipeStream> accept() noexcept {
        return detail::AcceptAwaiter<PipeStream>{core_};
    }

    /// The path given to `bind`.
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    explicit PipeListener(detail::ListenerCore* adopted, std::string path) noexcept
        : Listener(adopted), path_(std::move(path)) {}
    std::string path_;
};

}  // namespace uvtask
