// uvtask — TCP: TcpListener (bind, listen, accept) and TcpStream (connect, options), IPv4/IPv6.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "uvtask/address.hpp"
#include "uvtask/listener.hpp"
#include "uvtask/stream.hpp"
#include "uvtask/task.hpp"

namespace uvtask {

/// A connected TCP socket: a `Stream` (read_some, read_exact, write, write_all, shutdown,
/// close — see there for each one's cancellation rule) plus TCP options and addresses.
/// Move-only; belongs to its loop's thread.
class TcpStream : public Stream {
public:
    /// An empty stream (behaves as a closed one).
    /// At once; not a suspension point; throws nothing; any thread.
    TcpStream() noexcept = default;

    /// Connects to `address` (`uv_tcp_connect`) and returns the connected stream.
    /// A suspension point. A connect cannot be `uv_cancel`led: cancelled while connecting, the
    /// socket is closed and, once libuv has called the request back, `CancelledError` is thrown;
    /// nothing is left open. If the connection was established before the cancel reached it,
    /// the stream is returned (atomic completion) and the cancel waits for the next suspension
    /// point. Throws `IoError` (operation "connect", detail the address): `ECONNREFUSED` when
    /// nothing listens, `ENETUNREACH`, `ETIMEDOUT`…; `InvalidStateError` outside a task.
    /// Use `wait_for` to bound the time it takes.
    [[nodiscard]] static detail::ConnectAwaiter<TcpStream> connect(const SocketAddress& address) {
        return detail::ConnectAwaiter<TcpStream>{address};
    }

    /// Resolves `host` (a name or a numeric address), then tries each address in turn until
    /// one connects. A Task (several suspension points): a cancel stops the resolution or the
    /// connect under way (see `resolve` and `connect(address)`). Throws the resolver's `IoError`,
    /// or the last address's connect `IoError` if none connects.
    [[nodiscard]] static Task<TcpStream> connect(std::string host, std::uint16_t port);

    /// `TCP_NODELAY` on or off (Nagle's algorithm off or on). Throws `IoError`.
    void set_nodelay(bool enable);
    /// TCP keep-alive on (first probe after `delay` of idleness, at least 1 s) or off.
    /// Throws `IoError`.
    void set_keepalive(bool enable, std::chrono::seconds delay = std::chrono::seconds(60));
    /// The local address. Throws `IoError` (`EBADF` when closed).
    [[nodiscard]] SocketAddress local_address() const;
    /// The peer's address. Throws `IoError` (`EBADF` when closed, `ENOTCONN`).
    [[nodiscard]] SocketAddress peer_address() const;

private:
    friend struct detail::StreamAccess;
    explicit TcpStream(detail::StreamCore* adopted) noexcept : Stream(adopted) {}
};

/// Options of `TcpListener::bind`.
struct TcpListenOptions {
    /// The kernel's queue of connections not yet accepted (`listen(2)` backlog).
    int backlog = 128;
    /// For an IPv6 address: accept IPv6 only (no IPv4-mapped connections).
    bool ipv6_only = false;
    /// `SO_REUSEPORT`: several listeners — one per loop of a `LoopGroup`, typically — bind the
    /// same address and port, and the kernel spreads incoming connections among them (Linux:
    /// by a hash of the connection's addresses, among the sockets of the same user). Every one
    /// of them must set it. This is how the loops of a group share a port: each loop accepts
    /// and serves its own connections, with no hand-off between threads. A connection still
    /// waiting in the backlog of a listener that closes is reset. (libuv 1.44 has no
    /// `UV_TCP_REUSEPORT`: the option is set on the socket before `bind`.)
    bool reuse_port = false;
};

/// A listening TCP socket. Connections queue in the kernel from `bind` on; `accept()` takes them
/// one at a time, first come first served among waiting tasks. Move-only; belongs to its loop's
/// thread. See `Listener` for closing.
class TcpListener : public Listener {
public:
    TcpListener() noexcept = default;

    /// Binds to `address` and listens. Port 0 picks a free port (see `local_address()`).
    /// Not a suspension point. Throws `IoError` (operation "bind"/"listen", detail the
    /// address: `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`…) and `InvalidStateError` when the
    /// thread has no uvtask Loop.
    [[nodiscard]] static TcpListener bind(const SocketAddress& address,
                                          TcpListenOptions options = {});
    /// `bind(SocketAddress::parse(ip, port), options)`: `ip` is numeric ("127.0.0.1", "::1",
    /// "0.0.0.0", "::").
    [[nodiscard]] static TcpListener bind(std::string_view ip, std::uint16_t port,
                                          TcpListenOptions options = {});

    /// Waits for the next connection and returns it as a connected stream.
    /// A suspension point; returns at once if a connection is already waiting. Cancelled while
    /// waiting: `CancelledError`, no connection is taken (one arriving later waits for the next
    /// `accept()`). If a connection was accepted for this task before the cancel reached it,
    /// the stream is returned (atomic completion) and the cancel waits for the next suspension
    /// point. Throws `IoError` (`EBADF` when closed, `ECANCELED` if closed while waiting,
    /// `EMFILE`…) and `InvalidStateError` outside a task.
    [[nodiscard]] detail::AcceptAwaiter<TcpStream> accept() noexcept {
        return detail::AcceptAwaiter<TcpStream>{core_};
    }

    /// The address it listens on (with the port chosen for port 0). Throws `IoError`.
    [[nodiscard]] SocketAddress local_address() const;

private:
    explicit TcpListener(detail::ListenerCore* adopted) noexcept : Listener(adopted) {}
};

}  // namespace uvtask
