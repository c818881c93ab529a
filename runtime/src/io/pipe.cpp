// PipeListener: a Unix domain socket over the shared listener core.
#include "uvtask/pipe.hpp"

#include <sys/un.h>

#include "io/listener_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask {

PipeListener PipeListener::bind(std::string path, int backlog) {
    detail::LoopCore* loop = detail::current_loop();
    if (loop == nullptr || loop->closed()) {
        throw InvalidStateError("PipeListener::bind: no running uvtask Loop on this thread");
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
        detail::throw_io_error(UV_ENAMETOOLONG, "bind", path);  // libuv 1.44 would truncate it
    }
    if (path.find('\0') != std::string::npos) {
        detail::throw_io_error(UV_EINVAL, "bind", path);  // a C string would end at the NUL
    }
    PipeListener listener(detail::ListenerCore::create(detail::StreamKind::pipe), path);
    detail::ListenerCore& core = *listener.core_;
    if (const int rc = core.init(loop->native()); rc < 0) {
        detail::throw_io_error(rc, "bind", path);
    }
    if (const int rc = uv_pipe_bind(core.pipe(), path.c_str()); rc < 0) {
        detail::throw_io_error(rc, "bind", path);
    }
    if (const int rc = core.listen(backlog); rc < 0) {
        detail::throw_io_error(rc, "listen", path);
    }
    return listener;
}

}  // namespace uvtask
