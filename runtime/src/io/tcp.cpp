// TcpStream and TcpListener: the TCP specifics over the shared stream and listener cores.
#include "uvtask/tcp.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <memory>
#include <optional>

#include "io/listener_core.hpp"
#include "io/stream_core.hpp"
#include "uvtask/dns.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask {

namespace {

uv_loop_t* loop_for(const char* operation) {
    detail::LoopCore* loop = detail::current_loop();
    if (loop == nullptr || loop->closed()) {
        throw InvalidStateError(std::string(operation) +
                                ": no running uvtask Loop on this thread (use run() or a Loop)");
    }
    return loop->native();
}

template <class GetName>
SocketAddress socket_name(uv_tcp_t* tcp, const char* operation, GetName get_name) {
    if (tcp == nullptr) {
        detail::throw_io_error(UV_EBADF, operation, "stream is closed");
    }
    sockaddr_storage storage{};
    int length = sizeof(storage);
    if (const int rc = get_name(tcp, reinterpret_cast<sockaddr*>(&storage), &length); rc < 0) {
        detail::throw_io_error(rc, operation);
    }
    return SocketAddress::from_native(reinterpret_cast<const sockaddr*>(&storage));
}

// SO_REUSEPORT on the listener's socket, before bind (libuv 1.44 has no UV_TCP_REUSEPORT).
void set_reuse_port(uv_tcp_t* tcp, const SocketAddress& address) {
    uv_os_fd_t fd = -1;
    if (const int rc = uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd); rc < 0) {
        detail::throw_io_error(rc, "bind", address.to_string());
    }
    const int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        detail::throw_io_error(uv_translate_sys_error(errno), "bind", address.to_string());
    }
}

}  // namespace

// ---- TcpStream

Task<TcpStream> TcpStream::connect(std::string host, std::uint16_t port) {
    std::vector<SocketAddress> addresses = co_await resolve(host, port);
    std::optional<IoError> last_error;
    for (const SocketAddress& address : addresses) {
        try {
            TcpStream stream = co_await connect(address);
            co_return stream;
        } catch (const IoError& error) {
            last_error = error;
        }
    }
    throw *last_error;  // resolve() never returns an empty list
}

void TcpStream::set_nodelay(bool enable) {
    if (!is_open()) {
        detail::throw_io_error(UV_EBADF, "set_nodelay", "stream is closed");
    }
    if (const int rc = uv_tcp_nodelay(core_->tcp(), enable ? 1 : 0); rc < 0) {
        detail::throw_io_error(rc, "set_nodelay");
    }
}

void TcpStream::set_keepalive(bool enable, std::chrono::seconds delay) {
    if (!is_open()) {
        detail::throw_io_error(UV_EBADF, "set_keepalive", "stream is closed");
    }
    const auto seconds = static_cast<unsigned>(std::max<std::int64_t>(1, delay.count()));
    if (const int rc = uv_tcp_keepalive(core_->tcp(), enable ? 1 : 0, seconds); rc < 0) {
        detail::throw_io_error(rc, "set_keepalive");
    }
}

SocketAddress TcpStream::local_address() const {
    return socket_name(is_open() ? core_->tcp() : nullptr, "local_address", &uv_tcp_getsockname);
}

SocketAddress TcpStream::peer_address() const {
    return socket_name(is_open() ? core_->tcp() : nullptr, "peer_address", &uv_tcp_getpeername);
}

// ---- TcpListener

TcpListener TcpListener::bind(const SocketAddress& address, TcpListenOptions options) {
    uv_loop_t* loop = loop_for("TcpListener::bind");
    TcpListener listener(detail::ListenerCore::create(detail::StreamKind::tcp));
    detail::ListenerCore& core = *listener.core_;
    const int domain = options.reuse_port ? (address.is_v6() ? AF_INET6 : AF_INET) : AF_UNSPEC;
    if (const int rc = core.init(loop, domain); rc < 0) {
        detail::throw_io_error(rc, "bind", address.to_string());
    }
    if (options.reuse_port) {
        set_reuse_port(core.tcp(), address);
    }
    const unsigned flags = options.ipv6_only && address.is_v6() ? UV_TCP_IPV6ONLY : 0;
    if (const int rc = uv_tcp_bind(core.tcp(), address.native(), flags); rc < 0) {
        detail::throw_io_error(rc, "bind", address.to_string());
    }
    // libuv reports some bind errors (EADDRINUSE) only here.
    if (const int rc = core.listen(options.backlog); rc < 0) {
        detail::throw_io_error(rc, "listen", address.to_string());
    }
    return listener;
}

TcpListener TcpListener::bind(std::string_view ip, std::uint16_t port, TcpListenOptions options) {
    return bind(SocketAddress::parse(ip, port), options);
}

SocketAddress TcpListener::local_address() const {
    return socket_name(is_open() ? core_->tcp() : nullptr, "local_address", &uv_tcp_getsockname);
}

}  // namespace uvtask
