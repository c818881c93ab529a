// wait_readable / wait_writable: one uv_poll_t per wait, as an Operation<void>.
#include "uvtask/poll.hpp"

#include <uv.h>

#include <memory>
#include <new>
#include <string>

#include "uvtask/io_error.hpp"

namespace uvtask {

namespace detail {

/// The uv_poll_t of one wait: on the heap, libuv's until its close callback frees it.
struct PollRequest {
    uv_poll_t handle{};
    PollAwaiter* awaiter = nullptr;  // null once the awaiter is gone

    static void on_poll(uv_poll_t* handle, int status, int /*events*/) noexcept {
        auto* self = static_cast<PollRequest*>(handle->data);
        uv_poll_stop(handle);
        if (self->awaiter != nullptr) {
            self->awaiter->on_ready(status);
        }
    }
    static void on_close(uv_handle_t* handle) noexcept {
        std::unique_ptr<PollRequest> owned(static_cast<PollRequest*>(handle->data));
        if (owned->awaiter != nullptr) {
            owned->awaiter->on_closed();
        }
    }
    void close() noexcept {
        uv_close(reinterpret_cast<uv_handle_t*>(&handle), &on_close);
    }
};

}  // namespace detail

namespace {
const char* operation_of(PollFor what) noexcept {
    return what == PollFor::readable ? "wait_readable" : "wait_writable";
}
}  // namespace

PollAwaiter::~PollAwaiter() {
    if (request_ != nullptr) {
        // The frame is destroyed while libuv still watches (loop teardown): let go, libuv frees.
        request_->awaiter = nullptr;
        if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&request_->handle)) == 0) {
            uv_poll_stop(&request_->handle);
            request_->close();
        }
    }
}

void PollAwaiter::start() {
    auto request = std::make_unique<detail::PollRequest>();
    if (const int rc = uv_poll_init(native_loop(), &request->handle, fd_); rc < 0) {
        detail::throw_io_error(rc, operation_of(what_), "fd " + std::to_string(fd_));
    }
    request->handle.data = request.get();
    const int events = what_ == PollFor::readable ? UV_READABLE : UV_WRITABLE;
    if (const int rc = uv_poll_start(&request->handle, events, &detail::PollRequest::on_poll);
        rc < 0) {
        request.release()->close();  // initialised: libuv frees it from the close callback
        detail::throw_io_error(rc, operation_of(what_), "fd " + std::to_string(fd_));
    }
    request->awaiter = this;
    request_ = request.release();
}

void PollAwaiter::on_ready(int status) noexcept {
    poll_status_ = status;
    ready_ = true;
    request_->close();  // the wait ends once libuv has closed the handle (on_closed)
}

void PollAwaiter::stop() noexcept {
    // Closing already means readiness was reported: the wait ends with it (atomic completion).
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&request_->handle)) == 0) {
        uv_poll_stop(&request_->handle);
        request_->close();
    }
}

void PollAwaiter::on_closed() noexcept {
    request_ = nullptr;
    if (poll_status_ < 0) {
        try {
            detail::throw_io_error(poll_status_, operation_of(what_), "fd " + std::to_string(fd_));
        } catch (...) {
            fail(std::current_exception());
        }
        return;
    }
    if (stop_requested() && !ready_) {
        cancelled();
        return;
    }
    complete();
}

}  // namespace uvtask
