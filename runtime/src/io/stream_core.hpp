// The shared state behind a Stream: the libuv handle, the read buffer, the waiting reader.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "uvtask/stream.hpp"

namespace uvtask::detail {

/// A growable byte FIFO: libuv reads into its tail, reads take from its head.
class ByteBuffer {
public:
    [[nodiscard]] std::size_t size() const noexcept { return end_ - begin_; }
    [[nodiscard]] const std::byte* data() const noexcept { return storage_.get() + begin_; }
    /// At least `min` writable bytes at the tail (compacts or grows). std::bad_alloc.
    std::span<std::byte> prepare(std::size_t min);
    void commit(std::size_t n) noexcept { end_ += n; }
    void consume(std::size_t n) noexcept;
    void clear() noexcept;

private:
    std::unique_ptr<std::byte[]> storage_;
    std::size_t capacity_ = 0;
    std::size_t begin_ = 0;
    std::size_t end_ = 0;
};

enum class StreamKind : unsigned char { tcp, pipe };

/// The libuv stream handle of a Stream and everything libuv's callbacks touch. Reference-counted
/// (single thread): the Stream holds one, each awaiter and request in flight one, and libuv one
/// from a successful init until the close callback. Freed when the last goes.
class StreamCore {
public:
    /// A core with one reference (the caller's), handle not yet initialised. std::bad_alloc.
    [[nodiscard]] static StreamCore* create(StreamKind kind);
    explicit StreamCore(StreamKind kind) noexcept;
    StreamCore(const StreamCore&) = delete;
    StreamCore& operator=(const StreamCore&) = delete;
    ~StreamCore() = default;

    void retain() noexcept { ++refs_; }
    void release() noexcept;

    /// `uv_tcp_init` / `uv_pipe_init` on `loop`; libuv then holds a reference until closed.
    [[nodiscard]] int init(uv_loop_t* loop) noexcept;
    /// Closes the handle (idempotent): a waiting reader and the writes waiting for their turn
    /// get ECANCELED; libuv calls the pending write/connect/shutdown callbacks with ECANCELED,
    /// then the close callback.
    void close() noexcept;
    [[nodiscard]] bool closed() const noexcept { return closing_ || !initialised_; }
    [[nodiscard]] bool initialised() const noexcept { return initialised_; }

    [[nodiscard]] StreamKind kind() const noexcept { return kind_; }
    [[nodiscard]] uv_loop_t* loop() const noexcept { return handle_.handle.loop; }
    [[nodiscard]] uv_handle_t* handle() noexcept { return &handle_.handle; }
    [[nodiscard]] uv_stream_t* stream() noexcept { return &handle_.stream; }
    [[nodiscard]] uv_tcp_t* tcp() noexcept { return &handle_.tcp; }
    [[nodiscard]] uv_pipe_t* pipe() noexcept { return &handle_.pipe; }

    // ---- reading
    [[nodiscard]] std::size_t buffered() const noexcept { return in_.size(); }
    /// Whether a read needing `need` bytes can complete now (bytes, end or error).
    [[nodiscard]] bool readable(std::size_t need) const noexcept {
        return in_.size() >= need || eof_ || read_error_ != 0;
    }
    /// Starts `uv_read_start` if not reading and the stream has not ended.
    [[nodiscard]] int start_reading() noexcept;
    void stop_reading() noexcept;
    /// The reader claims the stream from `await_suspend` until its `await_resume` (or its
    /// cancel), so that no other read can take the bytes it was woken for.
    void set_reader(StreamReadAwaiter* reader, std::size_t need) noexcept {
        reader_ = reader;
        want_ = need;
    }
    [[nodiscard]] StreamReadAwaiter* reader() const noexcept { return reader_; }
    /// Delivers buffered bytes into `out` (all of them for `exact`); throws what the stream
    /// reached instead (end, error).
    std::size_t take(std::span<std::byte> out, bool exact, const char* operation);

    // ---- writing: libuv holds one write or shutdown at a time (see StreamTurnAwaiter)
    /// True if `turn` has the stream now (nobody else has it or waits for it); otherwise queues
    /// it behind the others and returns false: its `start_turn()` is called when its turn comes.
    [[nodiscard]] bool take_turn(StreamTurnAwaiter* turn) noexcept {
        if (turn_holder_ == nullptr && turns_.empty()) {
            turn_holder_ = turn;
            return true;
        }
        turns_.push_back(turn);
        return false;
    }
    /// Unlinks `turn` if it is still waiting (cancelled or destroyed before its turn came).
    void leave_turns(StreamTurnAwaiter* turn) noexcept { turns_.remove(turn); }
    /// Set when a cancelled write breaks the stream (before it is closed).
    std::optional<BrokenWrite> broken_write;
    /// The holder's request ended (its callback ran, or it ended without one): the next turns
    /// start, in order, until one stays in libuv. Nothing starts once the stream is closing.
    void end_turn() noexcept;
    /// The connect request (`TcpStream::connect`, `PipeStream::connect`) and who waits on it.
    uv_connect_t connect_req{};
    IoAwaiter* connector = nullptr;

private:
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf) noexcept;
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept;
    static void on_closed(uv_handle_t* handle) noexcept;
    void wake_reader(int status) noexcept;

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
    bool reading_ = false;
    bool eof_ = false;
    int read_error_ = 0;
    std::size_t want_ = 0;
    StreamReadAwaiter* reader_ = nullptr;
    ByteBuffer in_;
    StreamTurnAwaiter* turn_holder_ = nullptr;                   // the one libuv holds, if any
    IntrusiveList<StreamTurnAwaiter, StreamTurnAwaiter> turns_;  // waiting, in start order
};

/// A `uv_write_t` in flight: heap-allocated, owned by libuv until its callback.
struct StreamWriteOp {
    uv_write_t req{};
    StreamWriteAwaiter* waiter = nullptr;  // null once the awaiter is gone
    StreamCoreRef core;
    explicit StreamWriteOp(StreamCore* c) noexcept : core(c) {}
};

/// A `uv_shutdown_t` in flight, the same way.
struct StreamShutdownOp {
    uv_shutdown_t req{};
    StreamShutdownAwaiter* waiter = nullptr;
    StreamCoreRef core;
    explicit StreamShutdownOp(StreamCore* c) noexcept : core(c) {}
};

/// `std::make_unique<T>(args...).release()`, or null when out of memory: for `noexcept` paths
/// that report `UV_ENOMEM` instead of throwing.
template <class T, class... Args>
[[nodiscard]] T* try_make(Args&&... args) noexcept {
    try {
        return std::make_unique<T>(std::forward<Args>(args)...).release();
    } catch (...) {
        return nullptr;
    }
}

/// libuv buffers hold an `unsigned int` length: split `data` into pieces of at most 1 GiB.
/// Returns how many of `bufs` were filled (at most `bufs.size()`; the rest of `data`, if any,
/// did not fit).
std::size_t fill_bufs(std::span<const std::byte> data, std::span<uv_buf_t> bufs) noexcept;

/// Sets SIGPIPE to ignored if it has its default disposition (once per process).
void ignore_sigpipe_once() noexcept;

}  // namespace uvtask::detail
