// Stream writing: the turn queue (libuv holds one write or shutdown of a stream at a time);
// write/write_all through uv_try_write, then one uv_write; shutdown.
#include <algorithm>
#include <array>
#include <memory>
#include <utility>

#include "io/describe.hpp"
#include "io/stream_core.hpp"
#include "uvtask/io_error.hpp"
#include "uvtask/stream.hpp"

namespace uvtask::detail {

std::size_t fill_bufs(std::span<const std::byte> data, std::span<uv_buf_t> bufs) noexcept {
    constexpr std::size_t piece = std::size_t{1} << 30;
    std::size_t count = 0;
    while (!data.empty() && count < bufs.size()) {
        const std::size_t n = std::min(piece, data.size());
        bufs[count++] = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())),
                                    static_cast<unsigned>(n));
        data = data.subspan(n);
    }
    return count;
}

// ---- turns

void StreamCore::end_turn() noexcept {
    turn_holder_ = nullptr;
    while (turn_holder_ == nullptr && !closing_) {
        StreamTurnAwaiter* next = turns_.pop_front();
        if (next == nullptr) {
            return;
        }
        turn_holder_ = next;
        if (!next->start_turn()) {
            turn_holder_ = nullptr;  // it ended at once, without a request in libuv
        }
    }
}

// ---- writes

namespace {

// libuv copies the uv_buf_t array (not the bytes): up to 16 GiB in one request.
constexpr std::size_t max_bufs = 16;
constexpr std::size_t max_request = max_bufs << 30;

void on_write_done(uv_write_t* req, int status) noexcept {
    std::unique_ptr<StreamWriteOp> owned(static_cast<StreamWriteOp*>(req->data));
    if (owned->waiter != nullptr) {
        owned->waiter->on_written(status);
    }
    owned->core->end_turn();
}

void on_shutdown_done(uv_shutdown_t* req, int status) noexcept {
    std::unique_ptr<StreamShutdownOp> owned(static_cast<StreamShutdownOp*>(req->data));
    if (owned->waiter != nullptr) {
        owned->waiter->on_shutdown(status);
    }
    owned->core->end_turn();
}

}  // namespace

// ---- the turn queue's side of an awaiter

StreamTurnAwaiter::StreamTurnAwaiter(StreamCore* core, Starter starter) noexcept
    : core_(core), starter_(starter) {}

StreamTurnAwaiter::~StreamTurnAwaiter() {
    if (linked()) {
        core_->leave_turns(this);  // never handed to libuv (e.g. the frame dies at teardown)
    }
}

namespace {
constexpr WaitInfo write_wait{"write", &StreamTurnAwaiter::describe};
constexpr WaitInfo shutdown_wait{"shutdown", &StreamTurnAwaiter::describe};
}  // namespace

void StreamTurnAwaiter::describe(const Suspension& self, std::string& out) {
    append_handle(static_cast<const StreamTurnAwaiter&>(self).core_->handle(), out);
}

bool StreamTurnAwaiter::suspend_for_turn(std::coroutine_handle<> resume_at, CancelHook hook,
                                         const WaitInfo& info) noexcept {
    StreamCore* core = core_.get();
    if (core->take_turn(this)) {
        if (const int rc = starter_(this); rc != 1) {
            core->end_turn();
            return done_now(rc);
        }
    }  // else behind other requests: start_turn() runs when ours comes
    park(resume_at, hook, info);
    return true;
}

bool StreamTurnAwaiter::start_turn() noexcept {
    const int rc = starter_(this);
    if (rc == 1) {
        return true;
    }
    complete(rc);
    return false;
}

bool StreamTurnAwaiter::withdraw_if_waiting() noexcept {
    if (!linked()) {
        return false;
    }
    core_->leave_turns(this);  // nothing of it was handed to libuv: no effect on the stream
    complete_cancelled();
    return true;
}

// ---- write, write_all

StreamWriteAwaiter::StreamWriteAwaiter(StreamCore* core, std::span<const std::byte> data,
                                       bool all) noexcept
    : StreamTurnAwaiter(core,
                        [](StreamTurnAwaiter* self) noexcept {
                            return static_cast<StreamWriteAwaiter*>(self)->start_write();
                        }),
      data_(data), all_(all) {}

StreamWriteAwaiter::~StreamWriteAwaiter() {
    if (op_ != nullptr) {
        // Destroyed while libuv still writes from `data_`, which may die with this frame (loop
        // teardown): close the stream so libuv never reads the buffer again; the request's
        // callback (ECANCELED) frees it.
        op_->waiter = nullptr;
        core_->close();
    }
}

bool StreamWriteAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    StreamCore* core = core_.get();
    if (core == nullptr || core->closed()) {
        return done_now(UV_EBADF);
    }
    if (data_.empty()) {
        return done_now(0);
    }
    if (all_ && data_.size() > max_request) {
        return done_now(UV_E2BIG);  // write_all of more than 16 GiB: write it in parts
    }
    return suspend_for_turn(resume_at, &on_cancel, write_wait);
}

int StreamWriteAwaiter::start_write() noexcept {
    StreamCore* core = core_.get();
    uv_stream_t* stream = core->stream();
    if (uv_stream_get_write_queue_size(stream) == 0) {
        // Nothing queued before us: the kernel may take it all now, without a request.
        uv_buf_t buf{};
        (void)fill_bufs(data_, std::span<uv_buf_t>(&buf, 1));  // at most 1 GiB at once
        const int n = uv_try_write(stream, &buf, 1);
        if (n >= 0) {
            written_ = static_cast<std::size_t>(n);
            if (written_ == data_.size() || (!all_ && written_ > 0)) {
                return 0;
            }
        } else if (n != UV_EAGAIN) {
            return n;
        }
    }
    auto* op = try_make<StreamWriteOp>(core);
    if (op == nullptr) {
        return UV_ENOMEM;
    }
    std::array<uv_buf_t, max_bufs> bufs{};
    const std::size_t nbufs = fill_bufs(data_.subspan(written_), bufs);
    std::size_t covered = 0;
    for (std::size_t i = 0; i < nbufs; ++i) {
        covered += bufs[i].len;
    }
    in_flight_ = covered;
    op->req.data = op;
    const int rc =
        uv_write(&op->req, stream, bufs.data(), static_cast<unsigned>(nbufs), &on_write_done);
    if (rc < 0) {
        std::unique_ptr<StreamWriteOp> owned(op);
        return rc;
    }
    op->waiter = this;
    op_ = op;
    return 1;
}

void StreamWriteAwaiter::on_written(int status) noexcept {
    op_ = nullptr;
    if (status == 0) {
        written_ += in_flight_;
        complete(0);
    } else if (cancel_seen_) {
        complete_cancelled();
    } else {
        complete(status);
    }
}

void StreamWriteAwaiter::on_cancel(Suspension* self) noexcept {
    auto* writer = static_cast<StreamWriteAwaiter*>(self);
    if (writer->cancel_seen_) {
        return;  // a second cancel() while we wait for libuv's callback
    }
    writer->cancel_seen_ = true;
    if (writer->withdraw_if_waiting()) {
        return;
    }
    StreamCore* core = writer->core_.get();
    // This write holds the stream's turn: libuv's queue holds its bytes and nobody else's.
    const std::size_t unsent = uv_stream_get_write_queue_size(core->stream());
    if (unsent == 0) {
        return;  // every byte is with the kernel: the write completed, its callback will say so
    }
    core->broken_write =
        BrokenWrite{writer->written_ + writer->in_flight_ - unsent, writer->data_.size()};
    // Some of its bytes are still queued and cannot be taken back: the stream is broken.
    // Closing it makes libuv call the request back with ECANCELED; the writes waiting behind it
    // (none of their bytes sent) get ECANCELED.
    core->close();
}

std::size_t StreamWriteAwaiter::resume_written() {
    const char* operation = all_ ? "write_all" : "write";
    finish(operation);
    if (result_ < 0) {
        const char* detail = "";
        if (result_ == UV_EBADF) {
            detail = "stream is closed";
        } else if (result_ == UV_ECANCELED) {
            detail = core_->broken_write && written_ == 0
                         ? "stream broken by a cancelled write; none of this write was sent"
                         : "stream closed while writing";
        }
        throw_io_error(result_, operation, detail);
    }
    return written_;
}

// ---- shutdown

StreamShutdownAwaiter::StreamShutdownAwaiter(StreamCore* core) noexcept
    : StreamTurnAwaiter(core, [](StreamTurnAwaiter* self) noexcept {
          return static_cast<StreamShutdownAwaiter*>(self)->start_shutdown();
      }) {}

StreamShutdownAwaiter::~StreamShutdownAwaiter() {
    if (op_ != nullptr) {
        op_->waiter = nullptr;  // the request lends libuv no memory of ours: let it finish
    }
}

bool StreamShutdownAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    StreamCore* core = core_.get();
    if (core == nullptr || core->closed()) {
        return done_now(UV_EBADF);
    }
    // After the writes started before it.
    return suspend_for_turn(resume_at, &on_cancel, shutdown_wait);
}

int StreamShutdownAwaiter::start_shutdown() noexcept {
    StreamCore* core = core_.get();
    auto* op = try_make<StreamShutdownOp>(core);
    if (op == nullptr) {
        return UV_ENOMEM;
    }
    op->req.data = op;
    if (const int rc = uv_shutdown(&op->req, core->stream(), &on_shutdown_done); rc < 0) {
        std::unique_ptr<StreamShutdownOp> owned(op);
        return rc;
    }
    op->waiter = this;
    op_ = op;
    return 1;
}

void StreamShutdownAwaiter::on_shutdown(int status) noexcept {
    op_ = nullptr;
    if (cancel_seen_ && status == UV_ECANCELED) {
        complete_cancelled();
    } else {
        complete(status);
    }
}

void StreamShutdownAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<StreamShutdownAwaiter*>(self);
    if (awaiter->cancel_seen_) {
        return;
    }
    awaiter->cancel_seen_ = true;
    if (awaiter->withdraw_if_waiting()) {
        return;  // not started: the stream is untouched
    }
    // Holding the turn, the shutdown has no write queued before it (writes go to libuv one at
    // a time): it completes at once, and the cancel waits for the next suspension point.
}

void StreamShutdownAwaiter::await_resume() {
    finish("shutdown");
    if (result_ < 0) {
        throw_io_error(result_, "shutdown", result_ == UV_EBADF ? "stream is closed" : "");
    }
}

}  // namespace uvtask::detail
