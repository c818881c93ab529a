// Private: how the io/ awaiters describe what they wait on (`WaitInfo::detail`).
#pragma once

#include <uv.h>

#include <string>

namespace uvtask::detail {

/// Appends " on <handle type> fd <n>" (the fd left out when the handle has none yet).
inline void append_handle(const uv_handle_t* handle, std::string& out) {
    out += " on ";
    out += uv_handle_type_name(uv_handle_get_type(handle));
    uv_os_fd_t fd{};
    if (uv_fileno(handle, &fd) == 0) {
        out += " fd ";
        out += std::to_string(fd);
    }
}

}  // namespace uvtask::detail
