// wait_signal(): one uv_signal_t per wait, closed (and freed by its close callback) after.
#include "uvtask/signal.hpp"

#include <uv.h>

#include <memory>
#include <string>

#include "io/stream_core.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

struct SignalOp {
    uv_signal_t handle{};
    SignalAwaiter* waiter = nullptr;

    /// Stops and closes the watcher; the close callback frees the op.
    void close() noexcept {
        waiter = nullptr;
        uv_signal_stop(&handle);
        uv_close(reinterpret_cast<uv_handle_t*>(&handle), [](uv_handle_t* h) noexcept {
            std::unique_ptr<SignalOp> owned(static_cast<SignalOp*>(h->data));
        });
    }
};

SignalAwaiter::~SignalAwaiter() {
    if (op_ != nullptr) {
        op_->close();
    }
}

bool SignalAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    auto* op = try_make<SignalOp>();
    if (op == nullptr) {
        return done_now(UV_ENOMEM);
    }
    if (const int rc = uv_signal_init(loop().native(), &op->handle); rc < 0) {
        std::unique_ptr<SignalOp> owned(op);
        return done_now(rc);
    }
    op->handle.data = op;
    const int rc = uv_signal_start(
        &op->handle,
        [](uv_signal_t* handle, int /*signum*/) noexcept {
            auto* op = static_cast<SignalOp*>(handle->data);
            SignalAwaiter* waiter = op->waiter;
            op->close();
            if (waiter != nullptr) {
                waiter->on_signal();
            }
        },
        signum_);
    if (rc < 0) {
        op->close();
        return done_now(rc);
    }
    op->waiter = this;
    op_ = op;
    park(resume_at, &on_cancel);
    return true;
}

void SignalAwaiter::on_signal() noexcept {
    op_ = nullptr;  // closed by the callback
    complete(signum_);
}

void SignalAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<SignalAwaiter*>(self);
    std::exchange(awaiter->op_, nullptr)->close();
    awaiter->complete_cancelled();
}

int SignalAwaiter::await_resume() {
    finish("wait_signal()");
    if (result_ < 0) {
        throw_io_error(result_, "wait_signal", "signal " + std::to_string(signum_));
    }
    return result_;
}

}  // namespace uvtask::detail
