// uvtask — UDP: UdpSocket (bind, connect, send_to/send, receive_from/receive) over uv_udp_t,
// with the cancellation rules of the other I/O objects.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "uvtask/address.hpp"
#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

/// What `UdpSocket::receive_from` returns: one datagram.
struct Datagram {
    /// Bytes of it copied into the caller's buffer.
    std::size_t size = 0;
    /// Where it came from.
    SocketAddress sender;
    /// It was longer than the buffer: `size` bytes were kept and the rest discarded (as
    /// `recvfrom(2)` does).
    bool truncated = false;
};

/// Options of `UdpSocket::bind`.
struct UdpOptions {
    /// `UV_UDP_REUSEADDR`: several sockets may bind the same address and port.
    bool reuse_address = false;
    /// For an IPv6 address: IPv6 only (no IPv4-mapped traffic).
    bool ipv6_only = false;
};

namespace detail {

class UdpCore;  // the uv_udp_t and the received datagrams, freed after libuv's close callback
struct UdpSendOp;

/// `receive_from` / `receive`.
class UdpReceiveAwaiter : public IoAwaiter {
public:
    UdpReceiveAwaiter(UdpCore* core, std::span<std::byte> out) noexcept;
    UdpReceiveAwaiter(const UdpReceiveAwaiter&) = delete;
    UdpReceiveAwaiter& operator=(const UdpReceiveAwaiter&) = delete;
    ~UdpReceiveAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;

protected:
    /// `finish`, then the first datagram received, or throws.
    Datagram resume_datagram(const char* operation);
    /// Gives up the socket's receiver claim (whatever happens next); for the `nothrow()` form,
    /// which looks at the status before `resume_datagram` would.
    void release_claim() noexcept;

private:
    static void on_cancel(Suspension* self) noexcept;
    UdpCore* core_;  // one reference
    std::span<std::byte> out_;
};

class UdpReceiveFromAwaiter : public UdpReceiveAwaiter {
public:
    using UdpReceiveAwaiter::UdpReceiveAwaiter;
    Datagram await_resume() { return resume_datagram("receive_from"); }
    auto await_resume_outcome() noexcept {
        release_claim();
        return resume_outcome(*this);
    }
};

class UdpReceiveSizeAwaiter : public UdpReceiveAwaiter {
public:
    using UdpReceiveAwaiter::UdpReceiveAwaiter;
    std::size_t await_resume() { return resume_datagram("receive").size; }
    auto await_resume_outcome() noexcept {
        release_claim();
        return resume_outcome(*this);
    }
};

/// `send_to` / `send`.
class UdpSendAwaiter : public IoAwaiter {
public:
    /// `peer` null: the connected peer.
    UdpSendAwaiter(UdpCore* core, std::span<const std::byte> data,
                   const SocketAddress* peer) noexcept;
    UdpSendAwaiter(const UdpSendAwaiter&) = delete;
    UdpSendAwaiter& operator=(const UdpSendAwaiter&) = delete;
    ~UdpSendAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    void await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
    /// Called by the send request's callback.
    void on_sent(int status) noexcept;

private:
    static void on_cancel(Suspension* self) noexcept;
    UdpCore* core_;  // one reference
    std::span<const std::byte> data_;
    SocketAddress peer_;
    bool to_peer_;
    UdpSendOp* op_ = nullptr;  // the uv_udp_send_t in flight (heap: libuv's until its callback)
};

}  // namespace detail

/// A UDP socket over `uv_udp_t`, IPv4 or IPv6: datagrams sent to and received from any peer
/// (`send_to`, `receive_from`), or from the one peer it is connected to (`connect`, `send`,
/// `receive`). Move-only; belongs to the thread of the loop it was created on (no method is
/// thread-safe); an empty (moved-from or default) socket behaves as a closed one.
///
/// **Receiving.** Datagrams are read by libuv's receive callback into the socket's own queue;
/// receives take from it, one datagram each, in the order they arrived. The socket reads ahead
/// while someone has asked to receive and the queue holds fewer than 256 datagrams (and less
/// than 1 MiB), and stops reading (`uv_udp_recv_stop`) when the queue is full or a receive was
/// cancelled: datagrams then wait in the kernel's buffer, which drops what overflows it (UDP
/// has no flow control). A datagram libuv has read is never lost: each is returned by exactly
/// one receive. One task receives at a time: a second concurrent receive throws
/// `InvalidStateError`.
///
/// **Sending.** A datagram goes out whole or not at all. A send first tries `uv_udp_try_send`;
/// if the socket cannot take it at once, the datagram is copied and handed to libuv
/// (`uv_udp_send`), which sends datagrams in the order they were started.
///
/// **Closing.** `close()` (or the destructor) closes the handle at once; libuv frees it in its
/// close callback. A task waiting on the socket gets `IoError` `ECANCELED`; every operation on a
/// closed socket throws `IoError` `EBADF`. A UdpSocket must be destroyed before its loop ends.
class UdpSocket {
public:
    /// An empty socket: every operation throws `IoError` `EBADF`.
    UdpSocket() noexcept = default;
    UdpSocket(UdpSocket&& other) noexcept;
    UdpSocket& operator=(UdpSocket&& other) noexcept;
    UdpSocket(const UdpSocket&) = delete;
    UdpSocket& operator=(const UdpSocket&) = delete;
    /// Closes the socket (see `close()`).
    ~UdpSocket();

    /// A socket bound to `address` (port 0 picks a free port; "0.0.0.0" or "::" for every
    /// interface).
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `IoError` (operation "bind", detail the address: `EADDRINUSE`, `EACCES`,
    /// `EADDRNOTAVAIL`…); `InvalidStateError` when the thread has no running uvtask Loop.
    /// Thread safety: the loop's thread.
    [[nodiscard]] static UdpSocket bind(const SocketAddress& address, UdpOptions options = {});
    /// `bind(SocketAddress::parse(ip, port), options)`; `ip` is numeric.
    [[nodiscard]] static UdpSocket bind(std::string_view ip, std::uint16_t port,
                                        UdpOptions options = {});

    /// Connects the socket to `peer` (`uv_udp_connect`): `send` goes there, and only datagrams
    /// from `peer` are received. No packet is exchanged.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `IoError` (operation "connect": `EISCONN` if already connected, `EBADF` when
    /// closed, `EAFNOSUPPORT`…). Thread safety: loop thread only.
    void connect(const SocketAddress& peer);

    /// Sends `data` as one datagram to `peer`. `data` is copied if the datagram cannot be sent
    /// at once, so it need not outlive the call.
    ///
    /// Completes when: the datagram was handed to the kernel (at once, without suspending, if
    /// the socket takes it at once).
    /// Suspension point: yes (a pending cancel is thrown before anything is sent).
    /// On cancel: a datagram libuv holds cannot be taken back, and UDP has no flow control, so
    /// it goes out soon: the send waits for it and completes normally (atomic completion: it
    /// happened), and the cancel waits for the next suspension point. If the socket is closed
    /// before libuv sent it, nothing was sent and the cancelled send throws `CancelledError`.
    /// Throws: `IoError` (operation "send_to", detail the peer: `EMSGSIZE` for a datagram too
    /// large, `EISCONN` on a connected socket, `ENETUNREACH`…; `EBADF` when closed, `ECANCELED`
    /// if closed meanwhile); `InvalidStateError` outside a task. Thread safety: loop thread.
    [[nodiscard]] detail::UdpSendAwaiter send_to(std::span<const std::byte> data,
                                                 const SocketAddress& peer) noexcept {
        return {core_, data, &peer};
    }
    [[nodiscard]] detail::UdpSendAwaiter send_to(std::string_view data,
                                                 const SocketAddress& peer) noexcept {
        return {core_, std::as_bytes(std::span<const char>(data.data(), data.size())), &peer};
    }

    /// Sends `data` as one datagram to the connected peer; as `send_to` (operation "send";
    /// `EDESTADDRREQ` if the socket is not connected).
    [[nodiscard]] detail::UdpSendAwaiter send(std::span<const std::byte> data) noexcept {
        return {core_, data, nullptr};
    }
    [[nodiscard]] detail::UdpSendAwaiter send(std::string_view data) noexcept {
        return {core_, std::as_bytes(std::span<const char>(data.data(), data.size())), nullptr};
    }

    /// Receives one datagram into `out` and says how long it was, whether it was truncated and
    /// who sent it. Returns at once, without suspending, if a datagram is queued.
    ///
    /// Completes when: a datagram (or a receive error) is there.
    /// Suspension point: yes.
    /// On cancel: while waiting, `CancelledError`, nothing taken; the
    /// socket stays usable and a datagram arriving later goes to the next receive. A datagram
    /// that arrived before the cancel reached the receive is returned (atomic completion) and
    /// the cancel waits for the next suspension point.
    /// Throws: `IoError` (operation "receive_from": an error the kernel reported for this
    /// socket, e.g. `ECONNREFUSED` after a send to a closed port on a connected socket — the
    /// socket stays usable; `EBADF` when closed, `ECANCELED` if closed while waiting);
    /// `InvalidStateError` if another task is already receiving on this socket, or outside a
    /// task. Thread safety: loop thread only.
    [[nodiscard]] detail::UdpReceiveFromAwaiter receive_from(std::span<std::byte> out) noexcept {
        return {core_, out};
    }
    [[nodiscard]] detail::UdpReceiveFromAwaiter receive_from(std::span<char> out) noexcept {
        return {core_, std::as_writable_bytes(out)};
    }

    /// Receives one datagram into `out` and returns how many bytes were kept (a longer datagram
    /// is truncated silently: use `receive_from` to know). For a connected socket; otherwise
    /// as `receive_from` (operation "receive").
    [[nodiscard]] detail::UdpReceiveSizeAwaiter receive(std::span<std::byte> out) noexcept {
        return {core_, out};
    }
    [[nodiscard]] detail::UdpReceiveSizeAwaiter receive(std::span<char> out) noexcept {
        return {core_, std::as_writable_bytes(out)};
    }

    /// Closes the socket now (idempotent). Queued datagrams are discarded; a waiting receive
    /// gets `IoError` `ECANCELED`, and so does a send libuv has not sent yet (`CancelledError`
    /// if that send was cancelled). libuv frees the handle in its close callback, later.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: nothing. Thread safety: loop thread only.
    void close() noexcept;
    /// False once closed (or for an empty socket).
    [[nodiscard]] bool is_open() const noexcept;
    /// Datagrams received and queued, not yet returned by a receive.
    [[nodiscard]] std::size_t queued() const noexcept;
    /// The bound address (with the port chosen for port 0). Throws `IoError` (`EBADF`).
    [[nodiscard]] SocketAddress local_address() const;
    /// The connected peer. Throws `IoError` (`ENOTCONN`, `EBADF`).
    [[nodiscard]] SocketAddress peer_address() const;
    /// The libuv handle (null when empty or closed). Runtime and expert use.
    [[nodiscard]] uv_udp_t* native_handle() const noexcept;

private:
    explicit UdpSocket(detail::UdpCore* adopted) noexcept : core_(adopted) {}
    detail::UdpCore* core_ = nullptr;  // one reference, released by the destructor
};

}  // namespace uvtask
