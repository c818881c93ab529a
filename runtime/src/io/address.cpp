// SocketAddress: parsing and printing IPv4/IPv6 addresses with libuv's helpers.
#include "uvtask/address.hpp"

#include <array>
#include <cstring>

#include "uvtask/io_error.hpp"

namespace uvtask {

SocketAddress::SocketAddress() noexcept : storage_{} { storage_.ss_family = AF_UNSPEC; }

SocketAddress SocketAddress::parse(std::string_view ip, std::uint16_t port) {
    const std::string text(ip);  // libuv wants a NUL-terminated string
    SocketAddress address;
    int rc = UV_EINVAL;
    if (text.find('\0') != std::string::npos) {
        rc = UV_EINVAL;  // a C string would end at the NUL: another address
    } else if (text.find(':') != std::string::npos) {
        rc = uv_ip6_addr(text.c_str(), port, reinterpret_cast<sockaddr_in6*>(&address.storage_));
    } else {
        rc = uv_ip4_addr(text.c_str(), port, reinterpret_cast<sockaddr_in*>(&address.storage_));
    }
    if (rc != 0) {
        detail::throw_io_error(rc, "parse address", text);
    }
    return address;
}

SocketAddress SocketAddress::from_native(const sockaddr* native) {
    SocketAddress address;
    if (native != nullptr && native->sa_family == AF_INET) {
        std::memcpy(&address.storage_, native, sizeof(sockaddr_in));
    } else if (native != nullptr && native->sa_family == AF_INET6) {
        std::memcpy(&address.storage_, native, sizeof(sockaddr_in6));
    } else {
        detail::throw_io_error(UV_EAFNOSUPPORT, "socket address");
    }
    return address;
}

int SocketAddress::family() const noexcept { return storage_.ss_family; }

std::string SocketAddress::ip() const {
    std::array<char, 64> buffer{};
    if (is_v4()) {
        uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&storage_), buffer.data(), buffer.size());
    } else if (is_v6()) {
        uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&storage_), buffer.data(), buffer.size());
    }
    return buffer.data();
}

std::uint16_t SocketAddress::port() const noexcept {
    if (is_v4()) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (is_v6()) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

std::string SocketAddress::to_string() const {
    if (is_v4()) {
        return ip() + ':' + std::to_string(port());
    }
    if (is_v6()) {
        return '[' + ip() + "]:" + std::to_string(port());
    }
    return "unspecified";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
    if (a.family() != b.family()) {
        return false;
    }
    if (a.is_v4()) {
        const auto* x = reinterpret_cast<const sockaddr_in*>(&a.storage_);
        const auto* y = reinterpret_cast<const sockaddr_in*>(&b.storage_);
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a.is_v6()) {
        const auto* x = reinterpret_cast<const sockaddr_in6*>(&a.storage_);
        const auto* y = reinterpret_cast<const sockaddr_in6*>(&b.storage_);
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return true;
}

}  // namespace uvtask
