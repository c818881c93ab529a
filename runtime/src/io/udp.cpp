// UdpSocket: a queue of received datagrams fed by libuv's receive callback while someone
// receives; sends through uv_udp_try_send, then a copied datagram in a uv_udp_send request.
#include "uvtask/udp.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "io/stream_core.hpp"
#include "io/udp_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr WaitInfo udp_receive_wait{"UdpSocket::receive()"};
constexpr WaitInfo udp_send_wait{"UdpSocket::send()"};
}  // namespace

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
    park(resume_at, &on_cancel, udp_receive_wait);
    return true;
}

void UdpReceiveAwaiter::on_cancel(Suspension* self) noexcept {
    auto* receiver = static_cast<UdpReceiveAwaiter*>(self);
    receiver->core_->set_receiver(nullptr);
    receiver->core_->stop_receiving();  // datagrams arriving now wait in the kernel
    receiver->complete_cancelled();
}

void UdpReceiveAwaiter::release_claim() noexcept {
    if (core_ != nullptr && core_->receiver() == this) {
        core_->set_receiver(nullptr);  // release the claim, whatever happens next
    }
}

Datagram UdpReceiveAwaiter::resume_datagram(const char* operation) {
    if (was_misused()) {
        throw InvalidStateError(std::string(operation) +
                                ": another task is already receiving on this socket");
    }
    release_claim();
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
    if (data_.size() > udp_max_datagram) {
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
    park(resume_at, &on_cancel, udp_send_wait);
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
