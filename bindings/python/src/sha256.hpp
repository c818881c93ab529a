// uvtask Python bindings — SHA-256 (FIPS 180-4), for sha256_file().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace uvtask::python::detail {

/// An incremental SHA-256: `update()` any number of times, then `hex_digest()` once.
class Sha256 {
public:
    Sha256() noexcept;
    /// Adds `size` bytes at `data`.
    void update(const unsigned char* data, std::size_t size) noexcept;
    /// Ends the hash: the 64 lowercase hex digits of the digest. The object is spent.
    [[nodiscard]] std::string hex_digest();

private:
    void compress(const unsigned char* block) noexcept;
    std::array<std::uint32_t, 8> state_;
    std::array<unsigned char, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t total_bytes_ = 0;
};

}  // namespace uvtask::python::detail
