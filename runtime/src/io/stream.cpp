// Stream: the core's life (create, init, close handing the handle to libuv's close callback),
// the Stream object, and connect (TcpStream::connect, PipeStream::connect).
#include "uvtask/stream.hpp"

#include <csignal>
#include <memory>
#include <string>
#include <mutex>
#include <utility>

#include <sys/un.h>

#include "io/stream_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr WaitInfo connect_wait{"connect"};
}  // namespace

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
    while (StreamTurnAwaiter* turn = turns_.pop_front()) {
        turn->abort_turn();  // never handed to libuv
    }
    uv_close(&handle_.handle, &StreamCore::on_closed);
}

void StreamCore::on_closed(uv_handle_t* handle) noexcept {
    static_cast<StreamCore*>(handle->data)->release();  // libuv's reference
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

// ---- connect

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
        if (auto* awaiter =
                static_cast<StreamConnectAwaiter*>(std::exchange(core->connector, nullptr))) {
            awaiter->on_connected(status);
        }
    };
    if (tcp_) {
        if (const int rc =
                uv_tcp_connect(&core_->connect_req, core_->tcp(), address_.native(), on_connect);
            rc < 0) {
            return done_now(rc);
        }
    } else {
        if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
            return done_now(UV_ENAMETOOLONG);  // libuv 1.44 would silently truncate it
        }
        if (path_.find('\0') != std::string::npos) {
            return done_now(UV_EINVAL);  // a C string would end at the NUL: another path
        }
        uv_pipe_connect(&core_->connect_req, core_->pipe(), path_.c_str(), on_connect);
    }
    core_->connector = this;
    park(resume_at, &on_cancel, connect_wait);
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

std::optional<BrokenWrite> Stream::broken_write() const noexcept {
    return core_ != nullptr ? core_->broken_write : std::nullopt;
}

std::size_t Stream::buffered() const noexcept { return core_ != nullptr ? core_->buffered() : 0; }

std::size_t Stream::write_queue_size() const noexcept {
    return is_open() ? uv_stream_get_write_queue_size(core_->stream()) : 0;
}

uv_stream_t* Stream::native_handle() const noexcept {
    return is_open() ? core_->stream() : nullptr;
}

}  // namespace uvtask
