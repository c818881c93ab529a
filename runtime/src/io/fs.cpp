// Files over uv_fs_* requests: a heap FsOp per request, owned by libuv until its callback.
#include "uvtask/fs.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "io/stream_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask {

bool FileStat::is_regular() const noexcept { return (mode & S_IFMT) == S_IFREG; }
bool FileStat::is_directory() const noexcept { return (mode & S_IFMT) == S_IFDIR; }

namespace detail {

namespace {
constexpr std::size_t max_chunk = 1024 * 1024;  // bytes moved by one read/write request
}  // namespace

struct FsOp {
    uv_fs_t req{};
    FsAwaiter* waiter = nullptr;  // null once the awaiter is gone
    FsAwaiter::Kind kind = FsAwaiter::Kind::close;
    std::unique_ptr<std::byte[]> buffer;  // what a read fills / a write sends
    std::size_t size = 0;
};

namespace {

void on_fs_done(uv_fs_t* req) noexcept {
    std::unique_ptr<FsOp> op(static_cast<FsOp*>(req->data));
    const auto result = static_cast<std::int64_t>(req->result);
    if (op->waiter != nullptr) {
        op->waiter->on_done(result, req->statbuf);
    } else if (op->kind == FsAwaiter::Kind::open && result >= 0) {
        close_file_detached(static_cast<uv_file>(result));  // opened for a task that is gone
    }
    uv_fs_req_cleanup(req);
}

}  // namespace

void close_file_detached(uv_file fd) noexcept {
    if (fd < 0) {
        return;
    }
    LoopCore* loop = current_loop();
    auto* op = loop != nullptr && !loop->closed() ? try_make<FsOp>() : nullptr;
    if (op != nullptr) {
        op->req.data = op;
        if (uv_fs_close(loop->native(), &op->req, fd, &on_fs_done) == 0) {
            return;
        }
        std::unique_ptr<FsOp> owned(op);
    }
    ::close(fd);  // no loop to do it in the background
}

FsAwaiter::FsAwaiter(Args args) noexcept : args_(std::move(args)) {}

FsAwaiter::~FsAwaiter() {
    if (op_ != nullptr) {
        op_->waiter = nullptr;  // the callback frees the request
        if (args_.kind != Kind::close) {
            uv_cancel(reinterpret_cast<uv_req_t*>(&op_->req));  // best effort
        }
    }
}

const char* FsAwaiter::name() const noexcept {
    switch (args_.kind) {
        case Kind::open: return "open";
        case Kind::read: return "read";
        case Kind::write: return "write";
        case Kind::fsync: return "fsync";
        case Kind::fstat:
        case Kind::stat: return "stat";
        case Kind::close: return "close";
        case Kind::rename: return "rename";
        case Kind::unlink: return "unlink";
    }
    return "fs";
}

namespace {
constexpr WaitInfo fs_wait{"file", &FsAwaiter::describe};
}  // namespace

void FsAwaiter::describe(const Suspension& self, std::string& out) {
    const auto& awaiter = static_cast<const FsAwaiter&>(self);
    out += ' ';
    out += awaiter.name();
    if (!awaiter.args_.path.empty()) {
        out += " '" + awaiter.args_.path + "'";
    } else {
        out += " fd " + std::to_string(awaiter.args_.fd);
    }
}

bool FsAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    const bool needs_fd = args_.kind != Kind::open && args_.kind != Kind::stat &&
                          args_.kind != Kind::rename && args_.kind != Kind::unlink;
    if (needs_fd && args_.fd < 0) {
        return done_now(UV_EBADF);
    }
    if ((args_.kind == Kind::read && args_.out.empty()) ||
        (args_.kind == Kind::write && args_.in.empty())) {
        return done_now(0);
    }
    auto* op = try_make<FsOp>();
    if (op == nullptr) {
        return done_now(UV_ENOMEM);
    }
    std::unique_ptr<FsOp> owned(op);
    op->req.data = op;
    op->kind = args_.kind;
    if (args_.kind == Kind::read || args_.kind == Kind::write) {
        op->size =
            std::min(max_chunk, args_.kind == Kind::read ? args_.out.size() : args_.in.size());
        try {
            op->buffer = std::make_unique_for_overwrite<std::byte[]>(op->size);
        } catch (...) {
            return done_now(UV_ENOMEM);
        }
        if (args_.kind == Kind::write) {
            std::memcpy(op->buffer.get(), args_.in.data(), op->size);
        }
    }
    uv_loop_t* loop = SuspensionPoint::loop().native();
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(op->buffer.get()), static_cast<unsigned>(op->size));
    int rc = 0;
    switch (args_.kind) {
        case Kind::open:
            rc = uv_fs_open(loop, &op->req, args_.path.c_str(), args_.flags, args_.mode,
                            &on_fs_done);
            break;
        case Kind::read:
            rc = uv_fs_read(loop, &op->req, args_.fd, &buf, 1, args_.offset, &on_fs_done);
            break;
        case Kind::write:
            rc = uv_fs_write(loop, &op->req, args_.fd, &buf, 1, args_.offset, &on_fs_done);
            break;
        case Kind::fsync: rc = uv_fs_fsync(loop, &op->req, args_.fd, &on_fs_done); break;
        case Kind::fstat: rc = uv_fs_fstat(loop, &op->req, args_.fd, &on_fs_done); break;
        case Kind::stat: rc = uv_fs_stat(loop, &op->req, args_.path.c_str(), &on_fs_done); break;
        case Kind::close: rc = uv_fs_close(loop, &op->req, args_.fd, &on_fs_done); break;
        case Kind::rename:
            rc = uv_fs_rename(loop, &op->req, args_.path.c_str(), args_.new_path.c_str(),
                              &on_fs_done);
            break;
        case Kind::unlink:
            rc = uv_fs_unlink(loop, &op->req, args_.path.c_str(), &on_fs_done);
            break;
    }
    if (rc < 0) {
        uv_fs_req_cleanup(&op->req);
        return done_now(rc);
    }
    started_ = true;
    op->waiter = this;
    op_ = owned.release();
    park(resume_at, &on_cancel, fs_wait);
    return true;
}

void FsAwaiter::on_done(std::int64_t result, const uv_stat_t& stat) noexcept {
    if (args_.kind == Kind::read && result > 0) {
        std::memcpy(args_.out.data(), op_->buffer.get(), static_cast<std::size_t>(result));
    }
    if (args_.kind == Kind::fstat || args_.kind == Kind::stat) {
        stat_ = stat;
    }
    op_ = nullptr;
    if (result == UV_ECANCELED && cancel_seen_) {
        complete_cancelled();
    } else {
        complete(static_cast<int>(result));  // at most 1 MiB, a descriptor, or an error code
    }
}

void FsAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<FsAwaiter*>(self);
    if (awaiter->cancel_seen_ || awaiter->args_.kind == Kind::close) {
        return;  // a close, once started, runs to its end
    }
    awaiter->cancel_seen_ = true;
    // Succeeds only while the request waits for a pool thread (its callback then reports
    // UV_ECANCELED); a running request completes and its result is delivered.
    uv_cancel(reinterpret_cast<uv_req_t*>(&awaiter->op_->req));
}

std::int64_t FsAwaiter::resume_result() {
    finish(name());
    if (result_ < 0) {
        if (args_.kind == Kind::rename) {
            throw_io_error(result_, name(), args_.path + " -> " + args_.new_path);
        }
        const bool with_path =
            args_.kind == Kind::open || args_.kind == Kind::stat || args_.kind == Kind::unlink;
        throw_io_error(result_, name(),
                       with_path ? args_.path : (result_ == UV_EBADF ? "file is closed" : ""));
    }
    return result_;
}

std::size_t FsSizeAwaiter::await_resume() { return static_cast<std::size_t>(resume_result()); }

FileStat FsStatAwaiter::await_resume() {
    (void)resume_result();
    const uv_stat_t& s = stat();
    FileStat out;
    out.size = s.st_size;
    out.mode = s.st_mode;
    out.modified = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::seconds(s.st_mtim.tv_sec) + std::chrono::nanoseconds(s.st_mtim.tv_nsec)));
    return out;
}

FsOpenAwaiter::~FsOpenAwaiter() {
    if (!taken_ && status_ == Status::completed && result_ >= 0) {
        close_file_detached(result_);  // opened, but the task never received it
    }
}

Outcome<File> FsOpenAwaiter::await_resume_outcome() noexcept { return resume_outcome(*this); }

File FsOpenAwaiter::await_resume() {
    const auto fd = static_cast<uv_file>(resume_result());
    taken_ = true;
    return File(fd);
}

FsCloseAwaiter::~FsCloseAwaiter() {
    // Never handed to libuv (a pending cancel, no task, no memory): the descriptor is still
    // open and nobody else owns it. A close handed to libuv always runs (never uv_cancel'led).
    if (args().fd >= 0 && !started()) {
        close_file_detached(args().fd);
    }
}

void FsCloseAwaiter::await_resume() { (void)resume_result(); }

}  // namespace detail

// ---- File

File::File(File&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

File& File::operator=(File&& other) noexcept {
    if (this != &other) {
        detail::close_file_detached(std::exchange(fd_, std::exchange(other.fd_, -1)));
    }
    return *this;
}

File::~File() { detail::close_file_detached(fd_); }

Task<void> File::write_all(std::span<const std::byte> data, std::int64_t offset) const {
    while (!data.empty()) {
        const std::size_t n = co_await write(data, offset);
        data = data.subspan(n);
        if (offset >= 0) {
            offset += static_cast<std::int64_t>(n);
        }
    }
}

}  // namespace uvtask
