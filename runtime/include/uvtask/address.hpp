// uvtask — SocketAddress: an IPv4 or IPv6 address and port.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace uvtask {

/// An IPv4 or IPv6 socket address (IP and port), what `TcpListener::bind`, `TcpStream::connect`
/// and `resolve` use. A plain value: copyable, comparable, no I/O; every member returns at once,
/// is not a suspension point and is not cancellable. Thread-safe as a value (const members from
/// any thread).
class SocketAddress {
public:
    /// An unspecified address (family `AF_UNSPEC`); connecting to it fails with `EINVAL`.
    /// At once; not a suspension point; throws nothing; any thread.
    SocketAddress() noexcept;

    /// Parses a numeric IPv4 ("127.0.0.1") or IPv6 ("::1", "fe80::1%eth0") address; no name
    /// resolution (use `resolve` for host names).
    /// Throws: `IoError` (`EINVAL`, operation "parse address", detail `ip`) if `ip` is not a
    /// numeric address; `std::bad_alloc`. Any thread.
    [[nodiscard]] static SocketAddress parse(std::string_view ip, std::uint16_t port);

    /// Copies an `AF_INET` or `AF_INET6` socket address.
    /// Throws: `IoError` (`EAFNOSUPPORT`, operation "socket address") for another family or a
    /// null pointer. Any thread.
    [[nodiscard]] static SocketAddress from_native(const sockaddr* address);

    /// `AF_INET`, `AF_INET6` or `AF_UNSPEC`.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] int family() const noexcept;
    /// True for an IPv4 address. At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] bool is_v4() const noexcept { return family() == AF_INET; }
    /// True for an IPv6 address. At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] bool is_v6() const noexcept { return family() == AF_INET6; }
    /// The numeric IP ("127.0.0.1", "::1"); empty for an unspecified address.
    /// At once; not a suspension point; throws `std::bad_alloc`; any thread.
    [[nodiscard]] std::string ip() const;
    /// The port (host byte order). At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] std::uint16_t port() const noexcept;
    /// "127.0.0.1:8080", "[::1]:8080", or "unspecified".
    /// At once; not a suspension point; throws `std::bad_alloc`; any thread.
    [[nodiscard]] std::string to_string() const;
    /// The address for libuv and BSD socket calls; valid while this object lives.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const sockaddr* native() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage_);
    }

    /// Same family, IP and port (and IPv6 scope id); all unspecified addresses are equal.
    /// At once; not a suspension point; throws nothing; any thread.
    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

private:
    sockaddr_storage storage_;
};

}  // namespace uvtask
