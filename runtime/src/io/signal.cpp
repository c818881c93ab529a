// Signals: wait_signal() waits in its signal's registration (io/signal_service.hpp);
// SignalReceiver subscribes to the registrations of its set for its whole life.
#include "uvtask/signal.hpp"

#include <memory>
#include <string>
#include <utility>

#include "io/signal_service.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr WaitInfo signal_wait{"wait_signal()"};
constexpr WaitInfo receive_wait{"SignalReceiver::receive()"};
}  // namespace

// ---- wait_signal()

SignalAwaiter::~SignalAwaiter() {
    if (registration_ != nullptr && ListHook<SignalAwaiter>::linked()) {
        registration_->remove_waiter(this);  // e.g. the frame is destroyed while waiting
    }
}

bool SignalAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    SignalRegistration* registration = nullptr;
    if (const int rc = signal_registration_for(loop(), signum_, &registration); rc < 0) {
        return done_now(rc);
    }
    if (registration->take_kept()) {
        return done_now(signum_);  // it arrived since the last wait
    }
    registration_ = registration;
    registration->add_waiter(this);
    park(resume_at, &on_cancel, signal_wait);
    return true;
}

void SignalAwaiter::on_signal() noexcept {
    registration_ = nullptr;  // unlinked by the registration
    complete(signum_);
}

void SignalAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<SignalAwaiter*>(self);
    std::exchange(awaiter->registration_, nullptr)->remove_waiter(awaiter);
    awaiter->complete_cancelled();
}

int SignalAwaiter::await_resume() {
    finish("wait_signal()");
    if (result_ < 0) {
        throw_io_error(result_, "wait_signal", "signal " + std::to_string(signum_));
    }
    return result_;
}

// ---- SignalReceiver::receive()

SignalReceiveAwaiter::SignalReceiveAwaiter(SignalReceiverCore* core) noexcept : core_(core) {
    if (core_ != nullptr) {
        core_->retain();
    }
}

SignalReceiveAwaiter::~SignalReceiveAwaiter() {
    if (core_ != nullptr) {
        if (core_->receiver() == this) {
            core_->stop_waiting();
        }
        core_->release();
    }
}

bool SignalReceiveAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (core_ == nullptr || core_->closed()) {
        return done_now(UV_EBADF);
    }
    if (core_->receiver() != nullptr) {
        return misused();
    }
    if (int signum = 0; core_->take_pending(&signum)) {
        return done_now(signum);
    }
    core_->start_waiting(this);
    park(resume_at, &on_cancel, receive_wait);
    return true;
}

void SignalReceiveAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<SignalReceiveAwaiter*>(self);
    awaiter->core_->stop_waiting();  // a signal arriving now is queued for the next receive
    awaiter->complete_cancelled();
}

int SignalReceiveAwaiter::await_resume() {
    if (was_misused()) {
        throw InvalidStateError("SignalReceiver::receive: another task is already receiving");
    }
    finish("SignalReceiver::receive()");
    if (result_ < 0) {
        throw_io_error(
            result_, "receive",
            result_ == UV_EBADF ? "receiver is closed" : "receiver closed while waiting");
    }
    return result_;
}

}  // namespace uvtask::detail

namespace uvtask {

SignalReceiver::SignalReceiver(std::initializer_list<int> signals) {
    detail::LoopCore* loop = detail::current_loop();
    if (loop == nullptr || loop->closed()) {
        throw InvalidStateError("SignalReceiver: no running uvtask Loop on this thread");
    }
    auto core = std::make_unique<detail::SignalReceiverCore>();
    core->open(loop->service<detail::SignalService>(), signals);
    core_ = core.release();
}

SignalReceiver::SignalReceiver(SignalReceiver&& other) noexcept
    : core_(std::exchange(other.core_, nullptr)) {}

SignalReceiver& SignalReceiver::operator=(SignalReceiver&& other) noexcept {
    if (this != &other) {
        SignalReceiver old(std::move(*this));
        core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
}

SignalReceiver::~SignalReceiver() {
    if (core_ != nullptr) {
        core_->close();
        core_->release();
    }
}

std::size_t SignalReceiver::pending() const noexcept {
    return core_ != nullptr ? core_->pending() : 0;
}

void SignalReceiver::close() noexcept {
    if (core_ != nullptr) {
        core_->close();
    }
}

bool SignalReceiver::is_open() const noexcept { return core_ != nullptr && !core_->closed(); }

}  // namespace uvtask
