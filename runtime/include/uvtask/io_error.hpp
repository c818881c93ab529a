// uvtask — IoError: a libuv error from an I/O operation, as a std::system_error.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <string>
#include <string_view>
#include <system_error>

namespace uvtask {

/// The `std::error_category` of libuv error codes (named "uv"). Values are libuv's own negative
/// codes (`UV_ECONNREFUSED`, `UV_EOF`, `UV_EAI_NONAME`…); `message()` is `uv_strerror`. Codes
/// that mirror an errno compare equal to the matching `std::errc` (`code ==
/// std::errc::connection_refused` works). The object lives for the whole program.
/// At once; not a suspension point; throws nothing; any thread.
[[nodiscard]] const std::error_category& uv_category() noexcept;

/// A `std::error_code` in `uv_category()` for the libuv code `uv_status` (negative).
/// At once; not a suspension point; throws nothing; any thread.
[[nodiscard]] std::error_code make_uv_error_code(int uv_status) noexcept;

/// An I/O operation failed: libuv returned an error. Derives from `std::system_error`, so it is
/// caught by `catch (const std::exception&)` (unlike `CancelledError`).
///
/// `code()` is in `uv_category()`; `uv_name()` is libuv's name for it ("ECONNREFUSED");
/// `operation()` is the uvtask operation that failed ("connect", "read", "open"…); `detail()` is
/// what it was applied to, when known (an address, a path, a host name). `what()` reads
/// "connect 127.0.0.1:1: ECONNREFUSED: connection refused". A plain value; any thread.
class IoError : public std::system_error {
public:
    /// The error for `uv_status` (a negative libuv error code) in `operation` on `detail`.
    /// At once; not a suspension point; throws `std::bad_alloc`; any thread.
    IoError(int uv_status, std::string operation, std::string detail = {});

    /// The libuv error code (negative), as returned by libuv.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] int uv_status() const noexcept { return code().value(); }
    /// libuv's name of the error, e.g. "ECONNREFUSED", "EOF", "EAI_NONAME".
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const std::string& uv_name() const noexcept { return name_; }
    /// The operation that failed, e.g. "connect".
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const std::string& operation() const noexcept { return operation_; }
    /// What the operation was applied to (address, path, host), or empty.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] const std::string& detail() const noexcept { return detail_; }

private:
    std::string name_;
    std::string operation_;
    std::string detail_;
};

namespace detail {
/// Throws `IoError(uv_status, operation, detail)`. Out of line: keeps throw sites small.
[[noreturn]] void throw_io_error(int uv_status, const char* operation, std::string detail = {});
}  // namespace detail

}  // namespace uvtask
