// uvtask — SocketAddress: an IPv4 or IPv6 address and port.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace uvtask {

/// An IPv4 or IPv6 socket address (IP and port), what `TcpListener::bind`, `TcpStream::connect`
/// and `resolve` use. A plain value: copyable, comparable, no I/O. Thread-safe as a value.
class SocketAddress {
public:
    /// An unspecified address (family `AF_UNSPEC`); connecting to it fails with `EINVAL`.
    SocketAddress() noexcept;

    /// Parses a numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "fe80::1%eth0") address; no name
    /// resolution (use `resolve` for host names). Throws `IoError` (`EINVAL`, operation
    /// "parse address") if `ip` is not a numeric address.
    [[nodiscard]] static SocketAddress parse(std::string_view ip, std::uint16_t port);

    /// Copies an `AF_INET` or `AF_INET6` socket address; throws `IoError` (`EAFNOSUPPORT`)
    /// for another family.
    [[nodiscard]] static SocketAddress from_native(const sockaddr* address);

    /// `AF_INET`, `AF_INET6` or `AF_UNSPEC`.
    [[nodiscard]] int family() const noexcept;
    [[nodiscard]] bool is_v4() const noexcept { return family() == AF_INET; }
    [[nodiscard]] bool is_v6() const noexcept { return family() == AF_INET6; }
    /// The numeric IP ("127.0.0.1", "::1"); empty for an unspecified address.
    [[nodiscard]] std::string ip() const;
    /// The port (host byte order).
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// "127.0.0.1:8080", "[::1]:8080", or "unspecified".
    [[nodiscard]] std::string to_string() const;
    /// The address for libuv and BSD socket calls.
    [[nodiscard]] const sockaddr* native() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage_);
    }

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

private:
    sockaddr_storage storage_;
};

}  // namespace uvtask
