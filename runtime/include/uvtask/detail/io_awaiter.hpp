// uvtask internals — the common part of the I/O awaiters (streams, fs, dns, processes…).
#pragma once

#include <coroutine>

#include "uvtask/detail/suspension_point.hpp"

namespace uvtask {
class Stream;
}  // namespace uvtask

namespace uvtask::detail {

class StreamCore;  // the libuv handle and the read buffer, freed after libuv's close callback

/// The runtime's access to a stream's core (not public API): wraps an adopted core in a
/// `Stream` type (the accept and connect awaiters), reads a stream's core.
struct StreamAccess {
    /// A `S` (TcpStream, PipeStream) owning `core`, whose reference the caller hands over.
    template <class S>
    [[nodiscard]] static S adopt(StreamCore* core) noexcept {
        return S(core);
    }
    /// `stream`'s core (null when empty); defined in stream.hpp.
    [[nodiscard]] static StreamCore* core(const Stream& stream) noexcept;
};

/// Holds one reference to a stream core (a core is shared by its Stream, the awaiters using it
/// and libuv until the close callback).
class StreamCoreRef {
public:
    StreamCoreRef() noexcept = default;
    explicit StreamCoreRef(StreamCore* core) noexcept;  // adds a reference
    StreamCoreRef(const StreamCoreRef&) = delete;
    StreamCoreRef& operator=(const StreamCoreRef&) = delete;
    ~StreamCoreRef();
    [[nodiscard]] StreamCore* get() const noexcept { return core_; }
    StreamCore* operator->() const noexcept { return core_; }

private:
    StreamCore* core_ = nullptr;
};

/// A `SuspensionPoint` whose operation ends with a libuv status. The libuv callback (in the
/// runtime's .cpp files) calls `complete(status)`; a cancel hook that has asked libuv to stop
/// and is waiting for the callback sets `cancel_seen_`, and the callback then calls
/// `complete_cancelled()` if the operation did not happen. `await_resume` of the derived awaiter
/// calls `finish()` and turns a negative `result_` into an `IoError`.
class IoAwaiter : public SuspensionPoint {
public:
    /// The operation ended with `uv_status` (0 or positive: success): resume the task.
    void complete(int uv_status) noexcept {
        result_ = uv_status;
        wake(Status::completed);
    }
    /// The operation was stopped before it had any effect: resume the task with CancelledError.
    void complete_cancelled() noexcept { wake(Status::cancelled); }
    /// The task is suspended here, waiting for the operation.
    [[nodiscard]] bool waiting() const noexcept { return status_ == Status::waiting; }
    /// A cancel reached the operation while it was under way.
    [[nodiscard]] bool cancel_seen() const noexcept { return cancel_seen_; }

protected:
    /// For `await_suspend`: the operation ended without suspending; returns false.
    bool done_now(int uv_status) noexcept {
        result_ = uv_status;
        status_ = Status::completed;
        return false;
    }
    /// For `await_suspend`: the awaiter was misused (reported by the derived `await_resume`).
    bool misused() noexcept {
        status_ = Status::misuse;
        return false;
    }
    [[nodiscard]] bool was_misused() const noexcept { return status_ == Status::misuse; }

    int result_ = 0;
    bool cancel_seen_ = false;
};

}  // namespace uvtask::detail
