// Stream: reads from a per-stream buffer fed by libuv's read callback; writes through
// uv_try_write, then uv_write; shutdown; close handing the handle to libuv's close callback.
#include "uvtask/stream.hpp"

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include <sys/un.h>

#include "io/stream_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr std::size_t read_ahead_limit = 256 * 1024;
constexpr std::size_t read_chunk = 64 * 1024;
}  // namespace

// ---- ByteBuffer

std::span<std::byte> ByteBuffer::prepare(std::size_t min) {
    if (capacity_ - end_ >= min) {
        return {storage_.get() + end_, capacity_ - end_};
    }
    const std::size_t live = size();
    if (begin_ > 0 && capacity_ - live >= min && live <= capacity_ / 2) {
        std::memmove(storage_.get(), storage_.get() + begin_, live);
    } else {
        const std::size_t capacity = std::max(capacity_ * 2, live + min);
        auto bigger = std::make_unique_for_overwrite<std::byte[]>(capacity);
        if (live > 0) {
            std::memcpy(bigger.get(), storage_.get() + begin_, live);
        }
        storage_ = std::move(bigger);
        capacity_ = capacity;
    }
    begin_ = 0;
    end_ = live;
    return {storage_.get() + end_, capacity_ - end_};
}

void ByteBuffer::consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) {
        begin_ = end_ = 0;
    }
}

void ByteBuffer::clear() noexcept {
    storage_.reset();
    capacity_ = begin_ = end_ = 0;
}

// ---- StreamCore

void ignore_sigpipe_once() noexcept {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction current {};
        if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
            (current.sa_flags & SA_SIGINFO) == 0) {
            std::signal(SIGPIPE, SIG_IGN);
        }
    });
}

StreamCore::StreamCore(StreamKind kind) noexcept : kind_(kind) {}

StreamCore* StreamCore::create(StreamKind kind) {
    ignore_sigpipe_once();
    return std::make_unique<StreamCore>(kind).release();
}

void StreamCore::release() noexcept {
    if (--refs_ == 0) {
        std::unique_ptr<StreamCore> owned(this);
    }
}

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

int StreamCore::init(uv_loop_t* loop) noexcept {
    const int rc = kind_ == StreamKind::tcp ? uv_tcp_init(loop, &handle_.tcp)
                                            : uv_pipe_init(loop, &handle_.pipe, 0);
    if (rc == 0) {
        handle_.handle.data = this;
        initialised_ = true;
        retain();  // libuv's, until on_closed
    }
    return rc;
}

void StreamCore::close() noexcept {
    if (closing_) {
        return;
    }
    closing_ = true;
    if (!initialised_) {
        return;
    }
    wake_reader(UV_ECANCELED);
    reading_ = false;
    uv_close(&handle_.handle, &StreamCore::on_closed);
}

void StreamCore::on_closed(uv_handle_t* handle) noexcept {
    static_cast<StreamCore*>(handle->data)->release();  // libuv's reference
}

int StreamCore::start_reading() noexcept {
    if (reading_ || eof_ || read_error_ != 0 || closed()) {
        return 0;
    }
    const int rc = uv_read_start(&handle_.stream, &StreamCore::on_alloc, &StreamCore::on_read);
    if (rc == 0) {
        reading_ = true;
    }
    return rc;
}

void StreamCore::stop_reading() noexcept {
    if (reading_) {
        uv_read_stop(&handle_.stream);
        reading_ = false;
    }
}

void StreamCore::wake_reader(int status) noexcept {
    if (reader_ != nullptr && reader_->waiting()) {
        reader_->complete(status);  // it keeps its claim on the stream until it resumes
    }
}

void StreamCore::on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf) noexcept {
    auto* self = static_cast<StreamCore*>(handle->data);
    try {
        const std::span<std::byte> space = self->in_.prepare(std::max(suggested, read_chunk));
        buf->base = reinterpret_cast<char*>(space.data());
        buf->len = space.size();
    } catch (...) {
        // Out of memory: libuv reports UV_ENOBUFS to on_read, which ends the stream with it.
        buf->base = nullptr;
        buf->len = 0;
    }
}

void StreamCore::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) noexcept {
    auto* self = static_cast<StreamCore*>(stream->data);
    if (nread > 0) {
        self->in_.commit(static_cast<std::size_t>(nread));
    } else if (nread == UV_EOF) {
        self->eof_ = true;
        self->stop_reading();
    } else if (nread < 0) {
        self->read_error_ = static_cast<int>(nread);
        self->stop_reading();
    } else {
        return;  // 0: EAGAIN, nothing read
    }
    if (self->readable(self->want_)) {
        self->wake_reader(0);
    }
    // Back-pressure: stop reading once the buffer holds what readers may want.
    if (self->in_.size() >= std::max(read_ahead_limit, self->want_)) {
        self->stop_reading();
    }
}

std::size_t StreamCore::take(std::span<std::byte> out, bool exact, const char* operation) {
    const std::size_t have = in_.size();
    if (exact ? have >= out.size() : have > 0) {
        const std::size_t n = std::min(have, out.size());
        std::memcpy(out.data(), in_.data(), n);
        in_.consume(n);
        return n;
    }
    if (read_error_ != 0) {
        throw_io_error(read_error_, operation);
    }
    if (eof_) {
        if (exact) {
            throw_io_error(UV_EOF, operation,
                           "stream ended after " + std::to_string(have) + " of " +
                               std::to_string(out.size()) + " bytes (left buffered)");
        }
        return 0;
    }
    // Only reachable if the buffer was emptied behind the reader's back (cannot happen: one
    // reader at a time) — report rather than return a wrong count.
    throw InvalidStateError(std::string(operation) + ": woken without data");
}

// ---- StreamCoreRef

StreamCoreRef::StreamCoreRef(StreamCore* core) noexcept : core_(core) {
    if (core_ != nullptr) {
        core_->retain();
    }
}

StreamCoreRef::~StreamCoreRef() {
    if (core_ != nullptr) {
        core_->release();
    }
}

// ---- reads

StreamReadAwaiter::StreamReadAwaiter(StreamCore* core, std::span<std::byte> out,
                                     bool exact) noexcept
    : core_(core), out_(out), exact_(exact) {}

StreamReadAwaiter::~StreamReadAwaiter() {
    if (core_.get() != nullptr && core_->reader() == this) {
        core_->set_reader(nullptr, 0);  // e.g. the frame is destroyed while waiting (teardown)
    }
}

bool StreamReadAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    StreamCore* core = core_.get();
    if (core == nullptr || core->closed()) {
        return done_now(UV_EBADF);
    }
    if (core->reader() != nullptr) {
        return misused();
    }
    const std::size_t need = exact_ ? out_.size() : 1;
    if (out_.empty()) {
        return done_now(0);
    }
    core->set_reader(this, need);
    if (core->readable(need)) {
        return done_now(0);
    }
    if (const int rc = core->start_reading(); rc < 0) {
        return done_now(rc);
    }
    park(resume_at, &on_cancel);
    return true;
}

void StreamReadAwaiter::on_cancel(Suspension* self) noexcept {
    auto* reader = static_cast<StreamReadAwaiter*>(self);
    reader->core_->set_reader(nullptr, 0);
    reader->core_->stop_reading();  // nobody reads: let the peer feel back-pressure
    reader->complete_cancelled();
}

std::size_t StreamReadAwaiter::await_resume() {
    const char* operation = exact_ ? "read_exact" : "read_some";
    if (was_misused()) {
        throw InvalidStateError(std::string(operation) +
                                ": another task is already reading this stream");
    }
    if (core_.get() != nullptr && core_->reader() == this) {
        core_->set_reader(nullptr, 0);  // release the claim, whatever happens next
    }
    finish(operation);
    if (result_ < 0) {
        throw_io_error(result_, operation,
                       result_ == UV_ECANCELED ? "stream closed while reading"
                       : result_ == UV_EBADF   ? "stream is closed"
                                               : "");
    }
    if (out_.empty()) {
        return 0;
    }
    return core_->take(out_, exact_, operation);
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
    const int rc = uv_write(&op->req, stream, bufs.data(), static_cast<unsigned>(nbufs),
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
    const int rc = uv_shutdown(&op->req, core->stream(), [](uv_shutdown_t* req, int status) noexcept {
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

namespace uvtask {

Stream::Stream(Stream&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
    if (this != &other) {
        close();
        if (core_ != nullptr) {
            core_->release();
        }
        core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
}

Stream::~Stream() {
    if (core_ != nullptr) {
        core_->close();
        core_->release();
    }
}

void Stream::close() noexcept {
    if (core_ != nullptr) {
        core_->close();
    }
}

bool Stream::is_open() const noexcept { return core_ != nullptr && !core_->closed(); }

std::size_t Stream::buffered() const noexcept {
    return core_ != nullptr ? core_->buffered() : 0;
}

std::size_t Stream::write_queue_size() const noexcept {
    return is_open() ? uv_stream_get_write_queue_size(core_->stream()) : 0;
}

uv_stream_t* Stream::native_handle() const noexcept {
    return is_open() ? core_->stream() : nullptr;
}

}  // namespace uvtask

// ---- connect

namespace uvtask::detail {

StreamConnectAwaiter::StreamConnectAwaiter(const SocketAddress& address)
    : core_(StreamCore::create(StreamKind::tcp)), address_(address), tcp_(true) {}

StreamConnectAwaiter::StreamConnectAwaiter(std::string path)
    : core_(StreamCore::create(StreamKind::pipe)), path_(std::move(path)), tcp_(false) {}

StreamConnectAwaiter::~StreamConnectAwaiter() {
    if (core_ != nullptr) {
        if (core_->connector == this) {
            core_->connector = nullptr;
        }
        core_->close();  // a pending connect request is called back with ECANCELED
        core_->release();
    }
}

bool StreamConnectAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (const int rc = core_->init(loop().native()); rc < 0) {
        return done_now(rc);
    }
    core_->connect_req.data = core_;
    auto on_connect = [](uv_connect_t* req, int status) noexcept {
        auto* core = static_cast<StreamCore*>(req->data);
        if (auto* awaiter = static_cast<StreamConnectAwaiter*>(std::exchange(core->connector, nullptr))) {
            awaiter->on_connected(status);
        }
    };
    if (tcp_) {
        if (const int rc = uv_tcp_connect(&core_->connect_req, core_->tcp(), address_.native(),
                                          on_connect);
            rc < 0) {
            return done_now(rc);
        }
    } else {
        if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
            return done_now(UV_ENAMETOOLONG);  // libuv 1.44 would silently truncate it
        }
        uv_pipe_connect(&core_->connect_req, core_->pipe(), path_.c_str(), on_connect);
    }
    core_->connector = this;
    park(resume_at, &on_cancel);
    return true;
}

void StreamConnectAwaiter::on_connected(int status) noexcept {
    if (status < 0 && cancel_seen_) {
        complete_cancelled();
    } else {
        complete(status);
    }
}

void StreamConnectAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<StreamConnectAwaiter*>(self);
    if (awaiter->cancel_seen_) {
        return;
    }
    awaiter->cancel_seen_ = true;
    // A connect request cannot be uv_cancel'led: closing the handle makes libuv call it back
    // with ECANCELED (during the close), and the task resumes only then.
    awaiter->core_->close();
}

StreamCore* StreamConnectAwaiter::resume_core() {
    finish("connect");
    if (result_ < 0) {
        throw_io_error(result_, "connect", tcp_ ? address_.to_string() : path_);
    }
    return std::exchange(core_, nullptr);
}

}  // namespace uvtask::detail
