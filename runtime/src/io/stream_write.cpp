// Stream writing: write/write_all through uv_try_write, then one uv_write; shutdown.
#include <algorithm>
#include <array>
#include <memory>
#include <utility>

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

// ---- writes

StreamWriteAwaiter::StreamWriteAwaiter(StreamCore* core, std::span<const std::byte> data,
                                       bool all) noexcept
    : core_(core), data_(data), all_(all) {}

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
    uv_stream_t* stream = core->stream();
    if (core->writes_in_flight == 0 && uv_stream_get_write_queue_size(stream) == 0) {
        // Nothing queued before us: the kernel may take it all now, without a request.
        uv_buf_t buf{};
        (void)fill_bufs(data_, std::span<uv_buf_t>(&buf, 1));  // at most 1 GiB at once
        const int n = uv_try_write(stream, &buf, 1);
        if (n >= 0) {
            written_ = static_cast<std::size_t>(n);
            if (written_ == data_.size() || (!all_ && written_ > 0)) {
                return done_now(0);
            }
        } else if (n != UV_EAGAIN) {
            return done_now(n);
        }
    }
    auto* op = try_make<StreamWriteOp>(core);
    if (op == nullptr) {
        return done_now(UV_ENOMEM);
    }
    // libuv copies the uv_buf_t array (not the bytes): up to 16 GiB in one request.
    std::array<uv_buf_t, 16> bufs{};
    const std::size_t nbufs = fill_bufs(data_.subspan(written_), bufs);
    std::size_t covered = 0;
    for (std::size_t i = 0; i < nbufs; ++i) {
        covered += bufs[i].len;
    }
    if (all_ && written_ + covered < data_.size()) {
        std::unique_ptr<StreamWriteOp> owned(op);
        return done_now(UV_E2BIG);  // write_all of more than 16 GiB: write it in parts
    }
    in_flight_ = covered;
    op->req.data = op;
    const int rc =
        uv_write(&op->req, stream, bufs.data(), static_cast<unsigned>(nbufs),
                 [](uv_write_t* req, int status) noexcept {
                     std::unique_ptr<StreamWriteOp> owned(static_cast<StreamWriteOp*>(req->data));
                     --owned->core->writes_in_flight;
                     if (owned->waiter != nullptr) {
                         owned->waiter->on_written(status);
                     }
                 });
    if (rc < 0) {
        std::unique_ptr<StreamWriteOp> owned(op);
        return done_now(rc);
    }
    ++core->writes_in_flight;
    op->waiter = this;
    op_ = op;
    park(resume_at, &on_cancel);
    return true;
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
    if (uv_stream_get_write_queue_size(writer->core_->stream()) == 0) {
        return;  // every byte is with the kernel: the write completed, its callback will say so
    }
    // Bytes are still queued and cannot be taken back: the stream is broken. Closing it makes
    // libuv call the request back with ECANCELED.
    writer->core_->close();
}

std::size_t StreamWriteAwaiter::resume_written() {
    const char* operation = all_ ? "write_all" : "write";
    finish(operation);
    if (result_ < 0) {
        throw_io_error(result_, operation,
                       result_ == UV_EBADF       ? "stream is closed"
                       : result_ == UV_ECANCELED ? "stream closed while writing"
                                                 : "");
    }
    return written_;
}

// ---- shutdown

StreamShutdownAwaiter::StreamShutdownAwaiter(StreamCore* core) noexcept : core_(core) {}

StreamShutdownAwaiter::~StreamShutdownAwaiter() {
    if (op_ != nullptr) {
        op_->waiter = nullptr;
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
    auto* op = try_make<StreamShutdownOp>(core);
    if (op == nullptr) {
        return done_now(UV_ENOMEM);
    }
    op->req.data = op;
    const int rc =
        uv_shutdown(&op->req, core->stream(), [](uv_shutdown_t* req, int status) noexcept {
            std::unique_ptr<StreamShutdownOp> owned(static_cast<StreamShutdownOp*>(req->data));
            --owned->core->writes_in_flight;
            if (owned->waiter != nullptr) {
                owned->waiter->on_shutdown(status);
            }
        });
    if (rc < 0) {
        std::unique_ptr<StreamShutdownOp> owned(op);
        return done_now(rc);
    }
    ++core->writes_in_flight;
    op->waiter = this;
    op_ = op;
    park(resume_at, &on_cancel);
    return true;
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
    if (uv_stream_get_write_queue_size(awaiter->core_->stream()) == 0) {
        return;  // nothing left to flush: the shutdown completes at once
    }
    awaiter->core_->close();  // writes still queued: broken, as for a cancelled write
}

void StreamShutdownAwaiter::await_resume() {
    finish("shutdown");
    if (result_ < 0) {
        throw_io_error(result_, "shutdown", result_ == UV_EBADF ? "stream is closed" : "");
    }
}

}  // namespace uvtask::detail
