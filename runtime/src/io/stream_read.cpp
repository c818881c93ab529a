// Stream reading: the read buffer, libuv's read callbacks feeding it, and read_some/read_exact
// taking from it.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "io/describe.hpp"
#include "io/stream_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"
#include "uvtask/stream.hpp"

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

// ---- reads

StreamReadAwaiter::StreamReadAwaiter(StreamCore* core, std::span<std::byte> out,
                                     bool exact) noexcept
    : core_(core), out_(out), exact_(exact) {}

StreamReadAwaiter::~StreamReadAwaiter() {
    if (core_.get() != nullptr && core_->reader() == this) {
        core_->set_reader(nullptr, 0);  // e.g. the frame is destroyed while waiting (teardown)
    }
}

namespace {
constexpr WaitInfo read_wait{"read", &StreamReadAwaiter::describe};
}  // namespace

void StreamReadAwaiter::describe(const Suspension& self, std::string& out) {
    append_handle(static_cast<const StreamReadAwaiter&>(self).core_->handle(), out);
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
    park(resume_at, &on_cancel, read_wait);
    return true;
}

void StreamReadAwaiter::on_cancel(Suspension* self) noexcept {
    auto* reader = static_cast<StreamReadAwaiter*>(self);
    reader->core_->set_reader(nullptr, 0);
    reader->core_->stop_reading();  // nobody reads: let the peer feel back-pressure
    reader->complete_cancelled();
}

void StreamReadAwaiter::release_claim() noexcept {
    if (core_.get() != nullptr && core_->reader() == this) {
        core_->set_reader(nullptr, 0);  // release the claim, whatever happens next
    }
}

Outcome<std::size_t> StreamReadAwaiter::await_resume_outcome() noexcept {
    if (!was_misused()) {
        release_claim();  // as await_resume does before it looks at the status
    }
    return outcome_or<std::size_t>([this] { return await_resume(); });
}

std::size_t StreamReadAwaiter::await_resume() {
    const char* operation = exact_ ? "read_exact" : "read_some";
    if (was_misused()) {
        throw InvalidStateError(std::string(operation) +
                                ": another task is already reading this stream");
    }
    release_claim();
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

}  // namespace uvtask::detail
