// UdpSocket: a queue of received datagrams fed by libuv's receive callback while someone
// receives; sends through uv_udp_try_send, then a copied datagram in a uv_udp_send request.
#include "uvtask/udp.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "io/stream_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr std::size_t max_datagram = 64 * 1024;         // what libuv reads into at once
constexpr std::size_t queue_limit = 256;                // datagrams read ahead at most…
constexpr std::size_t queue_bytes_limit = 1024 * 1024;  // …and bytes
}  // namespace

/// The libuv handle of a UdpSocket and everything its callbacks touch. Reference-counted (loop
/// thread only): the socket, each awaiter and send request, and libuv from a successful init
/// until the close callback.
class UdpCore {
public:
    struct Entry {
        std::unique_ptr<std::byte[]> bytes;
        std::size_t size = 0;
        SocketAddress sender;
        bool truncated = false;
        int error = 0;  // a receive error instead of a datagram
    };

    void retain() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            std::unique_ptr<UdpCore> owned(this);
        }
    }

    [[nodiscard]] int init(uv_loop_t* loop) noexcept {
        const int rc = uv_udp_init(loop, &handle_);
        if (rc == 0) {
            handle_.data = this;
            initialised_ = true;
            retain();  // libuv's, until the close callback
        }
        return rc;
    }

    void close() noexcept {
        const bool was_open = !closed();
        closing_ = true;
        if (!was_open) {
            return;
        }
        wake_receiver(UV_ECANCELED);
        receiving_ = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
                 [](uv_handle_t* h) noexcept { static_cast<UdpCore*>(h->data)->release(); });
    }

    [[nodiscard]] bool closed() const noexcept { return closing_ || !initialised_; }
    [[nodiscard]] uv_udp_t* udp() noexcept { return &handle_; }
    [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }

    // ---- receiving
    [[nodiscard]] bool receivable() const noexcept { return !queue_.empty() || lost_ != 0; }
    [[nodiscard]] UdpReceiveAwaiter* receiver() const noexcept { return receiver_; }
    void set_receiver(UdpReceiveAwaiter* receiver) noexcept { receiver_ = receiver; }

    [[nodiscard]] int start_receiving() noexcept {
        if (receiving_ || closed()) {
            return 0;
        }
        if (!scratch_) {
            try {
                scratch_ = std::make_unique_for_overwrite<std::byte[]>(max_datagram);
            } catch (...) {
                return UV_ENOMEM;
            }
        }
        const int rc = uv_udp_recv_start(&handle_, &UdpCore::on_alloc, &UdpCore::on_receive);
        receiving_ = rc == 0;
        return rc;
    }

    void stop_receiving() noexcept {
        if (receiving_) {
            uv_udp_recv_stop(&handle_);
            receiving_ = false;
        }
    }

    /// The first queued datagram, copied into `out`; or throws the error queued first.
    Datagram take(std::span<std::byte> out, const char* operation) {
        if (queue_.empty()) {
            if (const int lost = std::exchange(lost_, 0); lost != 0) {
                throw_io_error(lost, operation, "out of memory: a received datagram was dropped");
            }
            // Only reachable if the queue was emptied behind the receiver's back (cannot
            // happen: one receiver at a time) — report rather than invent a datagram.
            throw InvalidStateError(std::string(operation) + ": woken without a datagram");
        }
        Entry entry = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= entry.size;
        if (entry.error != 0) {
            throw_io_error(entry.error, operation);
        }
        Datagram datagram;
        datagram.size = std::min(entry.size, out.size());
        datagram.sender = entry.sender;
        datagram.truncated = entry.truncated || entry.size > out.size();
        if (datagram.size > 0) {
            std::memcpy(out.data(), entry.bytes.get(), datagram.size);
        }
        return datagram;
    }

private:
    static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
        auto* self = static_cast<UdpCore*>(handle->data);
        buf->base = reinterpret_cast<char*>(self->scratch_.get());
        buf->len = max_datagram;
    }

    static void on_receive(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                           const sockaddr* from, unsigned flags) noexcept {
        auto* self = static_cast<UdpCore*>(handle->data);
        if (nread == 0 && from == nullptr) {
            return;  // nothing more to read now
        }
        try {
            Entry entry;
            if (nread < 0) {
                entry.error = static_cast<int>(nread);
            } else {
                entry.size = static_cast<std::size_t>(nread);
                entry.bytes = std::make_unique_for_overwrite<std::byte[]>(entry.size);
                if (entry.size > 0) {
                    std::memcpy(entry.bytes.get(), buf->base, entry.size);
                }
                entry.sender = SocketAddress::from_native(from);
                entry.truncated = (flags & UV_UDP_PARTIAL) != 0;
            }
            self->queued_bytes_ += entry.size;
            self->queue_.push_back(std::move(entry));
        } catch (...) {
            self->lost_ = UV_ENOMEM;  // reported by the next receive
        }
        if (self->receiver_ != nullptr && self->receiver_->waiting()) {
            self->receiver_->complete(0);  // it keeps its claim until it resumes
        }
        if (self->queue_.size() >= queue_limit || self->queued_bytes_ >= queue_bytes_limit) {
            self->stop_receiving();  // back-pressure: the kernel's buffer holds the rest
        }
    }

    void wake_receiver(int status) noexcept {
        if (receiver_ != nullptr && receiver_->waiting()) {
            receiver_->complete(status);
        }
    }

    uv_udp_t handle_{};
    int refs_ = 1;
    bool initialised_ = false;
    bool closing_ = false;
    bool receiving_ = false;
    int lost_ = 0;
    std::size_t queued_bytes_ = 0;
    UdpReceiveAwaiter* receiver_ = nullptr;
    std::unique_ptr<std::byte[]> scratch_;
    std::deque<Entry> queue_;
};

/// A `uv_udp_send_t` in flight with its own copy of the datagram: libuv's until its callback.
struct UdpSendOp {
    uv_udp_send_t req{};
    UdpSendAwaiter* waiter = nullptr;  // null once the awaiter is gone
    UdpCore* core;                     // one reference
    std::unique_ptr<std::byte[]> bytes;
    explicit UdpSendOp(UdpCore* c) noexcept : core(c) { core->retain(); }
    UdpSendOp(const UdpSendOp&) = delete;
    UdpSendOp& operator=(const UdpSendOp&) = delete;
    ~UdpSendOp() { core->release(); }
};

// ---- receive

UdpReceiveAwaiter::UdpReceiveAwaiter(UdpCore* core, std::span<std::byte> out) noexcept
    : core_(core), out_(out) {
    if (core_ != nullptr) {
        core_->retain();
    }
}

UdpReceiveAwaiter::~UdpReceiveAwaiter() {
    if (core_ != nullptr) {
        if (core_->receiver() == this) {
            core_->set_receiver(nullptr);  // e.g. the frame is destroyed while waiting
        }
        core_->release();
    }
}

bool UdpReceiveAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (core_ == nullptr || core_->closed()) {
        return done_now(UV_EBADF);
    }
    if (core_->receiver() != nullptr) {
        return misused();
    }
    core_->set_receiver(this);
    if (core_->receivable()) {
        return done_now(0);
    }
    if (const int rc = core_->start_receiving(); rc < 0) {
        return done_now(rc);
    }
    park(resume_at, &on_cancel);
    return true;
}

void UdpReceiveAwaiter::on_cancel(Suspension* self) noexcept {
    auto* receiver = static_cast<UdpReceiveAwaiter*>(self);
    receiver->core_->set_receiver(nullptr);
    receiver->core_->stop_receiving();  // datagrams arriving now wait in the kernel
    receiver->complete_cancelled();
}

Datagram UdpReceiveAwaiter::resume_datagram(const char* operation) {
    if (was_misused()) {
        throw InvalidStateError(std::string(operation) +
                                ": another task is already receiving on this socket");
    }
    if (core_ != nullptr && core_->receiver() == this) {
        core_->set_receiver(nullptr);  // release the claim, whatever happens next
    }
    finish(operation);
    if (result_ < 0) {
        throw_io_error(result_, operation,
                       result_ == UV_ECANCELED ? "socket closed while receiving"
                       : result_ == UV_EBADF   ? "socket is closed"
                                               : "");
    }
    return core_->take(out_, operation);
}

// ---- send

UdpSendAwaiter::UdpSendAwaiter(UdpCore* core, std::span<const std::byte> data,
                               const SocketAddress* peer) noexcept
    : core_(core), data_(data), peer_(peer != nullptr ? *peer : SocketAddress()),
      to_peer_(peer != nullptr) {
    if (core_ != nullptr) {
        core_->retain();
    }
}

UdpSendAwaiter::~UdpSendAwaiter() {
    if (op_ != nullptr) {
        op_->waiter = nullptr;  // the request owns its copy of the datagram
    }
    if (core_ != nullptr) {
        core_->release();
    }
}

bool UdpSendAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (core_ == nullptr || core_->closed()) {
        return done_now(UV_EBADF);
    }
    if (data_.size() > max_datagram) {
        return done_now(UV_EMSGSIZE);  // also keeps the length within an unsigned int
    }
    const sockaddr* peer = to_peer_ ? peer_.native() : nullptr;
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data_.data())),
                               static_cast<unsigned>(data_.size()));
    // EAGAIN also when libuv still holds earlier datagrams: they go first, in order.
    const int sent = uv_udp_try_send(core_->udp(), &buf, 1, peer);
    if (sent >= 0) {
        return done_now(0);
    }
    if (sent != UV_EAGAIN) {
        return done_now(sent);
    }
    auto* op = try_make<UdpSendOp>(core_);
    if (op == nullptr) {
        return done_now(UV_ENOMEM);
    }
    std::unique_ptr<UdpSendOp> owned(op);
    try {
        op->bytes =
            std::make_unique_for_overwrite<std::byte[]>(std::max<std::size_t>(1, data_.size()));
    } catch (...) {
        return done_now(UV_ENOMEM);
    }
    if (!data_.empty()) {
        std::memcpy(op->bytes.get(), data_.data(), data_.size());
    }
    buf.base = reinterpret_cast<char*>(op->bytes.get());
    op->req.data = op;
    const int rc = uv_udp_send(
        &op->req, core_->udp(), &buf, 1, peer, [](uv_udp_send_t* req, int status) noexcept {
            std::unique_ptr<UdpSendOp> done(static_cast<UdpSendOp*>(req->data));
            if (done->waiter != nullptr) {
                done->waiter->on_sent(status);
            }
        });
    if (rc < 0) {
        return done_now(rc);
    }
    op->waiter = this;
    op_ = owned.release();
    park(resume_at, &on_cancel);
    return true;
}

void UdpSendAwaiter::on_sent(int status) noexcept {
    op_ = nullptr;
    if (status == UV_ECANCELED && cancel_seen_) {
        complete_cancelled();  // closed before libuv sent it: nothing was sent
    } else {
        complete(status);
    }
}

void UdpSendAwaiter::on_cancel(Suspension* self) noexcept {
    // A datagram libuv holds cannot be taken back; it goes out soon (no flow control). Wait
    // for the callback: sent, the send completes; closed first, it is cancelled.
    static_cast<UdpSendAwaiter*>(self)->cancel_seen_ = true;
}

void UdpSendAwaiter::await_resume() {
    const char* operation = to_peer_ ? "send_to" : "send";
    finish(operation);
    if (result_ < 0) {
        throw_io_error(result_, operation,
                       result_ == UV_EBADF       ? std::string("socket is closed")
                       : result_ == UV_ECANCELED ? std::string("socket closed while sending")
                       : to_peer_                ? peer_.to_string()
                                                 : std::string());
    }
}

}  // namespace uvtask::detail

namespace uvtask {

namespace {

template <class GetName>
SocketAddress udp_name(uv_udp_t* udp, const char* operation, GetName get_name) {
    if (udp == nullptr) {
        detail::throw_io_error(UV_EBADF, operation, "socket is closed");
    }
    sockaddr_storage storage{};
    int length = sizeof(storage);
    if (const int rc = get_name(udp, reinterpret_cast<sockaddr*>(&storage), &length); rc < 0) {
        detail::throw_io_error(rc, operation);
    }
    return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace

UdpSocket::UdpSocket(UdpSocket&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
    if (this != &other) {
        UdpSocket old(std::move(*this));
        core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
}

UdpSocket::~UdpSocket() {
    if (core_ != nullptr) {
        core_->close();
        core_->release();
    }
}

UdpSocket UdpSocket::bind(const SocketAddress& address, UdpOptions options) {
    detail::LoopCore* loop = detail::current_loop();
    if (loop == nullptr || loop->closed()) {
        throw InvalidStateError(
            "UdpSocket::bind: no running uvtask Loop on this thread (use run() or a Loop)");
    }
    UdpSocket socket(std::make_unique<detail::UdpCore>().release());
    if (const int rc = socket.core_->init(loop->native()); rc < 0) {
        detail::throw_io_error(rc, "bind", address.to_string());
    }
    unsigned flags = options.reuse_address ? UV_UDP_REUSEADDR : 0;
    if (options.ipv6_only && address.is_v6()) {
        flags |= UV_UDP_IPV6ONLY;
    }
    if (const int rc = uv_udp_bind(socket.core_->udp(), address.native(), flags); rc < 0) {
        detail::throw_io_error(rc, "bind", address.to_string());
    }
    return socket;
}

UdpSocket UdpSocket::bind(std::string_view ip, std::uint16_t port, UdpOptions options) {
    return bind(SocketAddress::parse(ip, port), options);
}

void UdpSocket::connect(const SocketAddress& peer) {
    if (!is_open()) {
        detail::throw_io_error(UV_EBADF, "connect", "socket is closed");
    }
    if (const int rc = uv_udp_connect(core_->udp(), peer.native()); rc < 0) {
        detail::throw_io_error(rc, "connect", peer.to_string());
    }
}

void UdpSocket::close() noexcept {
    if (core_ != nullptr) {
        core_->close();
    }
}

bool UdpSocket::is_open() const noexcept { return core_ != nullptr && !core_->closed(); }

std::size_t UdpSocket::queued() const noexcept { return core_ != nullptr ? core_->queued() : 0; }

SocketAddress UdpSocket::local_address() const {
    return udp_name(native_handle(), "local_address", &uv_udp_getsockname);
}

SocketAddress UdpSocket::peer_address() const {
    return udp_name(native_handle(), "peer_address", &uv_udp_getpeername);
}

uv_udp_t* UdpSocket::native_handle() const noexcept { return is_open() ? core_->udp() : nullptr; }

}  // namespace uvtask
