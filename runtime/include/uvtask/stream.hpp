// uvtask — Stream: a connected byte stream (TCP socket, Unix socket, pipe) read and written by
// cancellable awaitables.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <coroutine>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "uvtask/address.hpp"
#include "uvtask/detail/io_awaiter.hpp"
#include "uvtask/detail/intrusive_list.hpp"

namespace uvtask {

/// How much of the cancelled write that broke a stream got out (`Stream::broken_write()`). A
/// plain value; any thread.
struct BrokenWrite {
    /// Bytes of it handed to the kernel before the stream was closed: the peer receives at most
    /// these (exactly these over TCP unless the connection is reset), and nothing after them.
    std::size_t sent = 0;
    /// Bytes it was asked to write.
    std::size_t size = 0;
};

namespace detail {
struct StreamWriteOp;
struct StreamShutdownOp;

/// `read_some` / `read_exact`.
class StreamReadAwaiter : public IoAwaiter {
public:
    StreamReadAwaiter(StreamCore* core, std::span<std::byte> out, bool exact) noexcept;
    ~StreamReadAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    std::size_t await_resume();
    Outcome<std::size_t> await_resume_outcome() noexcept;
    /// `WaitInfo::detail`: the stream's kind and file descriptor.
    static void describe(const Suspension& self, std::string& out);

private:
    void release_claim() noexcept;
    static void on_cancel(Suspension* self) noexcept;
    friend class StreamCore;
    StreamCoreRef core_;
    std::span<std::byte> out_;
    bool exact_;
};

/// The part `write`, `write_all` and `shutdown` share: waiting for the stream's turn. A stream
/// hands libuv one write (or shutdown) at a time, in the order they were started; the others
/// wait in the stream's queue, not in libuv's, so that a cancel can tell the cancelled
/// request's bytes from everyone else's. The awaiter is the queue's node (`linked()` while it
/// waits): no allocation.
class StreamTurnAwaiter : public IoAwaiter, public ListHook<StreamTurnAwaiter> {
public:
    StreamTurnAwaiter(const StreamTurnAwaiter&) = delete;
    StreamTurnAwaiter& operator=(const StreamTurnAwaiter&) = delete;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    /// The turn has come (called by the stream): starts the request. True if it is now in
    /// libuv (it keeps the turn until its callback), false if it ended at once (task woken).
    bool start_turn() noexcept;
    /// The stream was closed while this request waited for its turn: nothing of it was sent.
    void abort_turn() noexcept { complete(UV_ECANCELED); }
    /// `WaitInfo::detail`: the stream's kind and file descriptor.
    static void describe(const Suspension& self, std::string& out);

protected:
    /// Starts the request: 1 while it is in libuv, else its final status (0 or a libuv error).
    using Starter = int (*)(StreamTurnAwaiter*) noexcept;
    StreamTurnAwaiter(StreamCore* core, Starter starter) noexcept;
    ~StreamTurnAwaiter();
    /// For `await_suspend`, after `begin()` and the request's own checks: starts it now if the
    /// stream is free (returns false if it ended at once), else queues it; suspends with `hook`.
    bool suspend_for_turn(std::coroutine_handle<> resume_at, CancelHook hook,
                          const WaitInfo& info) noexcept;
    /// For the cancel hook: if the request still waits for its turn, withdraws it (no effect on
    /// the stream) and completes the await cancelled. Returns whether it did.
    bool withdraw_if_waiting() noexcept;

    StreamCoreRef core_;

private:
    Starter starter_;
};

/// The part `write` and `write_all` share.
class StreamWriteAwaiter : public StreamTurnAwaiter {
public:
    StreamWriteAwaiter(StreamCore* core, std::span<const std::byte> data, bool all) noexcept;
    ~StreamWriteAwaiter();
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    /// Called by the write request's callback.
    void on_written(int status) noexcept;

protected:
    std::size_t resume_written();

private:
    static void on_cancel(Suspension* self) noexcept;
    /// Hands `data_` to the kernel (uv_try_write) and libuv (uv_write). Returns 1 while a
    /// uv_write is in flight, else the final status (0 or a libuv error).
    int start_write() noexcept;
    std::span<const std::byte> data_;
    std::size_t written_ = 0;
    std::size_t in_flight_ = 0;    // bytes of data_ the uv_write carries
    StreamWriteOp* op_ = nullptr;  // the uv_write_t in flight (heap: libuv's until its callback)
    bool all_;
};

class StreamWriteSomeAwaiter : public StreamWriteAwaiter {
public:
    using StreamWriteAwaiter::StreamWriteAwaiter;
    std::size_t await_resume() { return resume_written(); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

class StreamWriteAllAwaiter : public StreamWriteAwaiter {
public:
    using StreamWriteAwaiter::StreamWriteAwaiter;
    void await_resume() { (void)resume_written(); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

/// `shutdown()`.
class StreamShutdownAwaiter : public StreamTurnAwaiter {
public:
    explicit StreamShutdownAwaiter(StreamCore* core) noexcept;
    ~StreamShutdownAwaiter();
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
    void on_shutdown(int status) noexcept;

private:
    static void on_cancel(Suspension* self) noexcept;
    /// `uv_shutdown`: 1 while in flight, else a libuv error.
    int start_shutdown() noexcept;
    StreamShutdownOp* op_ = nullptr;
};

/// `TcpStream::connect` / `PipeStream::connect`: creates the stream's core, connects it, and
/// hands it to the new stream object.
class StreamConnectAwaiter : public IoAwaiter {
public:
    /// TCP to `address`.
    explicit StreamConnectAwaiter(const SocketAddress& address);
    /// Unix socket at `path`.
    explicit StreamConnectAwaiter(std::string path);
    ~StreamConnectAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void on_connected(int status) noexcept;

protected:
    /// The connected core (its reference handed over), or throws.
    StreamCore* resume_core();

private:
    static void on_cancel(Suspension* self) noexcept;
    StreamCore* core_ = nullptr;  // owned (one reference) until handed over
    SocketAddress address_;
    std::string path_;
    bool tcp_;
};

/// The awaiter of `T::connect`, resuming with a `T` (TcpStream, PipeStream).
template <class T>
class ConnectAwaiter : public StreamConnectAwaiter {
public:
    using StreamConnectAwaiter::StreamConnectAwaiter;
    T await_resume() { return StreamAccess::adopt<T>(resume_core()); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

}  // namespace detail

/// A connected, bidirectional byte stream over a libuv stream handle: the common interface of
/// `TcpStream`, `PipeStream` and a child process's stdio pipes. Move-only; belongs to the
/// thread of the loop it was created on (no method is thread-safe); an empty (moved-from or
/// default) Stream behaves as a closed one.
///
/// **Reading.** Bytes arriving from the peer go into the stream's own buffer, filled by libuv's
/// read callback; reads take from that buffer. The stream reads ahead while someone has asked to
/// read and the buffer holds less than 256 KiB (or what a pending `read_exact` needs), and stops
/// reading (`uv_read_stop`) when the buffer is full or a read was cancelled, so an unread stream
/// applies back-pressure to the peer. Bytes that arrived are never lost: each is returned by
/// exactly one read, in order. One task reads at a time: a second concurrent read throws
/// `InvalidStateError`.
///
/// **Writing.** Concurrent writes (and `shutdown()`) from several tasks go out in the order they
/// were started, each contiguous: the stream hands libuv one of them at a time, and the others
/// wait their turn in the stream's own queue. When its turn comes, a write first tries
/// `uv_try_write`; what the socket does not take at once goes through one `uv_write`, which
/// libuv cannot take back.
///
/// **A cancelled write** affects no other write. What state the stream is left in:
/// - cancelled while waiting for its turn (none of its bytes handed to libuv): `CancelledError`,
///   nothing of it sent; the stream stays open, and the writes before and after it go on;
/// - cancelled after every byte of it reached the kernel: it completes normally (the cancel
///   waits for the next suspension point); the stream stays open;
/// - cancelled while some of its own bytes are still queued in libuv: the stream is **broken**
///   — closed at once, since the peer got a truncated message that cannot be taken back (like
///   Trio's broken streams). The cancelled write throws `CancelledError`; the writes queued
///   behind it throw `IoError` `ECANCELED` with none of their bytes sent; writes that completed
///   before it are unaffected; every later operation throws `IoError` `EBADF`. The peer
///   receives every earlier write whole, then a prefix of the cancelled one, then the end of
///   the stream; `broken_write()` tells how long that prefix is.
///
/// **Closing.** `close()` (or the destructor) closes the libuv handle at once; the handle's
/// memory is freed by libuv's close callback on a later loop iteration (the Stream object may be
/// gone by then). A task waiting on the stream when it is closed gets `IoError` `ECANCELED`;
/// every operation on a closed stream throws `IoError` `EBADF`. An I/O object must be destroyed
/// before its loop ends (inside the tasks of `run()`).
///
/// SIGPIPE: creating the first stream sets SIGPIPE to ignored if it still has its default
/// disposition (as Python does), so writing to a closed peer is an `IoError` (`EPIPE`), not the
/// death of the process.
///
/// Every awaited operation also throws `CancelledError` (see its "On cancel") and
/// `InvalidStateError` when awaited outside a task; making the awaitable throws nothing.
class Stream {
public:
    /// An empty stream: every operation throws `IoError` `EBADF`.
    /// At once; not a suspension point; throws nothing; any thread.
    Stream() noexcept = default;
    /// Takes `other`'s handle; `other` is empty (closed) after.
    /// At once; not a suspension point; throws nothing; loop thread only.
    Stream(Stream&& other) noexcept;
    /// Closes this stream (see `close()`), then takes `other`'s handle.
    /// At once; not a suspension point; throws nothing; loop thread only.
    Stream& operator=(Stream&& other) noexcept;
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;
    /// Closes the stream (see `close()`).
    /// At once; not a suspension point; throws nothing; loop thread only.
    ~Stream();

    /// Reads at least one byte and at most `out.size()` into `out`; returns how many, or 0 at the
    /// end of the stream (the peer shut down its side or closed; also for an empty `out`).
    /// Returns at once, without suspending, if bytes are buffered.
    ///
    /// Completes when: bytes are buffered (at once if some already are), at the end of the
    /// stream, or on an error.
    /// Suspension point: yes (a pending cancel is thrown even if bytes are buffered).
    /// On cancel: while waiting, throws `CancelledError`, nothing was read, the stream stays
    /// usable and bytes arriving later are kept for the next read. If bytes had arrived before
    /// the cancel reached the read, they are returned (atomic completion) and the cancel waits
    /// for the next suspension point.
    /// Throws: `IoError` for a read error (e.g. `ECONNRESET`; after the bytes buffered before it
    /// were returned), `EBADF` on a closed stream, `ECANCELED` if the stream is closed while the
    /// read waits; `InvalidStateError` if another task is already reading this stream.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::StreamReadAwaiter read_some(std::span<std::byte> out) noexcept {
        return {core_, out, false};
    }
    /// `read_some` into a `char` buffer; as above.
    [[nodiscard]] detail::StreamReadAwaiter read_some(std::span<char> out) noexcept {
        return {core_, std::as_writable_bytes(out), false};
    }

    /// Reads exactly `out.size()` bytes into `out` (returns that size). All or nothing: bytes
    /// are taken from the stream only once all of them are there, so a `read_exact` that is
    /// cancelled (`CancelledError`) or fails leaves every byte that arrived in the stream's
    /// buffer, for the next read. The buffer grows to `out.size()` if needed.
    ///
    /// Completes when: `out.size()` bytes are buffered (at once if they already are), at the end
    /// of the stream, or on an error.
    /// Suspension point: yes. On cancel: as for `read_some` — while waiting, `CancelledError`
    /// and nothing is taken.
    /// Throws: `IoError` `EOF` if the stream ends before `out.size()` bytes arrived (those stay
    /// readable by `read_some`), and the errors of `read_some`.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::StreamReadAwaiter read_exact(std::span<std::byte> out) noexcept {
        return {core_, out, true};
    }
    /// `read_exact` into a `char` buffer; as above.
    [[nodiscard]] detail::StreamReadAwaiter read_exact(std::span<char> out) noexcept {
        return {core_, std::as_writable_bytes(out), true};
    }

    /// Writes some of `data` and returns how many bytes were written (at least one, unless
    /// `data` is empty). When its turn comes (after the writes started before it): what the
    /// socket takes at once, or, if it takes nothing then, all of `data` through one `uv_write`
    /// (completing when libuv has handed it all to the kernel). `data` must stay valid until the
    /// write completes.
    ///
    /// Completes when: the socket took some bytes at once, or libuv handed all of `data` to the
    /// kernel.
    /// Suspension point, On cancel, Throws, Thread safety: those of `write_all`.
    [[nodiscard]] detail::StreamWriteSomeAwaiter write(std::span<const std::byte> data) noexcept {
        return {core_, data, false};
    }
    /// `write` of a string's bytes; as above.
    [[nodiscard]] detail::StreamWriteSomeAwaiter write(std::string_view data) noexcept {
        return {core_, std::as_bytes(std::span<const char>(data.data(), data.size())), false};
    }

    /// Writes every byte of `data`; completes when libuv has handed the last byte to the kernel.
    /// `data` must stay valid until the write completes (it is not copied).
    ///
    /// Completes when: libuv has handed the last byte to the kernel (writes started earlier by
    /// other tasks go first).
    /// Suspension point: yes. On cancel (a write cannot be taken back once libuv holds it):
    /// - a pending cancel when the write starts, or a cancel while it waits for its turn behind
    ///   other writes: `CancelledError`, nothing written, the stream untouched;
    /// - the cancel arrives after every byte was handed to the kernel (the write is complete,
    ///   its callback not yet run): the write completes normally (atomic completion) and the
    ///   cancel waits for the next suspension point;
    /// - the cancel arrives while some of this write's bytes are still queued in libuv: the
    ///   stream is broken and closed (see the class comment: the writes queued behind it get
    ///   `IoError` `ECANCELED`, nothing of them sent) and the write throws `CancelledError`.
    /// Throws: `IoError` for a write error (`EPIPE`, `ECONNRESET` when the peer is gone),
    /// `EBADF` on a closed stream, `ECANCELED` if the stream is closed (or broken by another
    /// write's cancel) meanwhile, `E2BIG` for more than 16 GiB at once.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::StreamWriteAllAwaiter write_all(
        std::span<const std::byte> data) noexcept {
        return {core_, data, true};
    }
    /// `write_all` of a string's bytes; as above.
    [[nodiscard]] detail::StreamWriteAllAwaiter write_all(std::string_view data) noexcept {
        return {core_, std::as_bytes(std::span<const char>(data.data(), data.size())), true};
    }

    /// Shuts down the writing side (`uv_shutdown`): waits until the writes already started are
    /// handed to the kernel, then the peer reads the end of the stream. Reading goes on.
    ///
    /// Completes when: the writes started before it are with the kernel and the socket is shut.
    /// Suspension point: yes. On cancel: while it waits behind writes, `CancelledError` and the
    /// stream is untouched (the writes go on, the stream stays open for writing); once its turn
    /// has come no write is queued before it, so it completes (the cancel waits for the next
    /// suspension point).
    /// Throws: `IoError` (`ENOTCONN` if already shut down, `EBADF` on a closed stream,
    /// `ECANCELED` if the stream is closed meanwhile).
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::StreamShutdownAwaiter shutdown() noexcept {
        return detail::StreamShutdownAwaiter{core_};
    }

    /// Closes the stream now; idempotent. Buffered bytes and writes not yet handed to the kernel
    /// are discarded; a task waiting on the stream gets `IoError` `ECANCELED`. libuv frees the
    /// handle in its close callback, later.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: loop thread only.
    void close() noexcept;

    /// False once closed (by `close()`, a cancelled write, or for an empty stream).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] bool is_open() const noexcept;
    /// If a cancelled write (or `write_all`) broke this stream: how many of its bytes got out,
    /// for a writer that catches the `CancelledError` and must know what the peer may have
    /// received (e.g. to log it or resume on a new connection). Empty while no cancel broke
    /// the stream (open, closed by `close()`, a write error, or an empty stream).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: loop thread only.
    [[nodiscard]] std::optional<BrokenWrite> broken_write() const noexcept;
    /// Bytes received and buffered, not yet returned by a read.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] std::size_t buffered() const noexcept;
    /// Bytes handed to libuv by the write holding the stream's turn and not yet to the kernel
    /// (`uv_stream_get_write_queue_size`); writes waiting for their turn are not counted.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] std::size_t write_queue_size() const noexcept;
    /// The libuv handle (null when empty or closed). Runtime and expert use.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] uv_stream_t* native_handle() const noexcept;

protected:
    explicit Stream(detail::StreamCore* adopted) noexcept : core_(adopted) {}
    detail::StreamCore* core_ = nullptr;  // one reference, released by the destructor

private:
    friend struct detail::StreamAccess;
};

inline detail::StreamCore* detail::StreamAccess::core(const Stream& stream) noexcept {
    return stream.core_;
}

}  // namespace uvtask
