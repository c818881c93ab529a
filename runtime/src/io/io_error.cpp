// IoError and the libuv error category.
#include "uvtask/io_error.hpp"

#include <uv.h>

#include <array>

namespace uvtask {

namespace {

// uv_err_name()/uv_strerror() allocate (and leak) a string for an unknown code: use the _r forms.
std::string uv_name_of(int status) {
    std::array<char, 64> buffer{};
    uv_err_name_r(status, buffer.data(), buffer.size());
    return buffer.data();
}

std::string uv_message_of(int status) {
    std::array<char, 256> buffer{};
    uv_strerror_r(status, buffer.data(), buffer.size());
    return buffer.data();
}

class UvCategory final : public std::error_category {
public:
    [[nodiscard]] const char* name() const noexcept override { return "uv"; }
    [[nodiscard]] std::string message(int status) const override { return uv_message_of(status); }
    [[nodiscard]] std::error_condition default_error_condition(int status) const noexcept override {
        // On Unix, libuv's UV_E* codes are the negated errno values; its own codes (UV_EOF,
        // UV_EAI_*) lie below -3000 and have no errno equivalent.
        if (status < 0 && status > -3000) {
            return {-status, std::generic_category()};
        }
        return {status, *this};
    }
};

std::string describe(int status, const std::string& operation, const std::string& detail) {
    std::string text = operation;
    if (!detail.empty()) {
        text += ' ';
        text += detail;
    }
    text += ": ";
    text += uv_name_of(status);
    return text;  // std::system_error appends ": " and the category's message

}

}  // namespace

const std::error_category& uv_category() noexcept {
    static const UvCategory category;
    return category;
}

std::error_code make_uv_error_code(int uv_status) noexcept { return {uv_status, uv_category()}; }

IoError::IoError(int uv_status, std::string operation, std::string detail)
    : std::system_error(make_uv_error_code(uv_status), describe(uv_status, operation, detail)),
      name_(uv_name_of(uv_status)), operation_(std::move(operation)), detail_(std::move(detail)) {}

namespace detail {
void throw_io_error(int uv_status, const char* operation, std::string detail) {
    throw IoError(uv_status, operation, std::move(detail));
}
}  // namespace detail

}  // namespace uvtask
