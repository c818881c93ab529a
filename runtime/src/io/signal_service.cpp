// The loop's signal service: each registration wakes its wait_signal() waiters, keeps a signal
// nobody waited for, and hands every signal to the SignalReceivers subscribed to it.
#include "io/signal_service.hpp"

#include <string>

#include "uvtask/io_error.hpp"

namespace uvtask::detail {

// ---- SignalRegistration

int SignalRegistration::start(uv_loop_t* loop) noexcept {
    handle_.data = this;
    if (const int rc = uv_signal_init(loop, &handle_); rc < 0) {
        service_.registration_closed();
        std::unique_ptr<SignalRegistration> owned(this);
        return rc;
    }
    handle_.data = this;
    if (const int rc = uv_signal_start(&handle_, &SignalRegistration::on_signal, signum_); rc < 0) {
        close();
        return rc;
    }
    update_ref();
    return 0;
}

void SignalRegistration::close() noexcept {
    uv_signal_stop(&handle_);
    uv_close(reinterpret_cast<uv_handle_t*>(&handle_), [](uv_handle_t* h) noexcept {
        std::unique_ptr<SignalRegistration> owned(static_cast<SignalRegistration*>(h->data));
        owned->service_.registration_closed();
    });
}

void SignalRegistration::on_signal(uv_signal_t* handle, int /*signum*/) noexcept {
    auto* self = static_cast<SignalRegistration*>(handle->data);
    if (self->waiters_.empty()) {
        self->kept_ = true;  // for the next wait_signal
    }
    while (SignalAwaiter* waiter = self->waiters_.pop_front()) {
        waiter->on_signal();
    }
    self->subscribers_.for_each(
        [self](SignalSubscription* s) { s->owner->deliver(self->signum_); });
    self->update_ref();
}

// ---- SignalReceiverCore

void SignalReceiverCore::open(SignalService& service, std::initializer_list<int> signals) {
    subscriptions_ = std::make_unique<SignalSubscription[]>(signals.size());
    pending_.reserve(signals.size());
    for (const int signum : signals) {
        SignalRegistration* registration = nullptr;
        if (const int rc = service.registration(signum, &registration); rc < 0) {
            close();
            throw_io_error(rc, "SignalReceiver", "signal " + std::to_string(signum));
        }
        if (std::any_of(
                subscriptions_.get(), subscriptions_.get() + count_,
                [&](const SignalSubscription& s) { return s.registration == registration; })) {
            continue;  // listed twice
        }
        SignalSubscription& subscription = subscriptions_[count_++];
        subscription.owner = this;
        subscription.registration = registration;
        registration->subscribe(&subscription);
    }
    service_ = &service;
    service.add_receiver(this);
}

void SignalReceiverCore::deliver(int signum) noexcept {
    if (receiver_ != nullptr && receiver_->waiting()) {
        SignalReceiveAwaiter* awaiter = receiver_;
        stop_waiting();
        awaiter->complete(signum);
        return;
    }
    if (std::find(pending_.begin(), pending_.end(), signum) == pending_.end()) {
        pending_.push_back(signum);  // within the capacity reserved: one per signal of the set
    }
}

void SignalReceiverCore::close() noexcept {
    if (closed_) {
        return;
    }
    closed_ = true;
    SignalReceiveAwaiter* awaiter = receiver_;
    stop_waiting();
    detach();
    pending_.clear();
    if (awaiter != nullptr && awaiter->waiting()) {
        awaiter->complete(UV_ECANCELED);
    }
}

void SignalReceiverCore::detach() noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
        if (SignalRegistration* r = std::exchange(subscriptions_[i].registration, nullptr)) {
            if (receiver_ != nullptr) {
                r->receiver_waits(-1);
            }
            r->unsubscribe(&subscriptions_[i]);
        }
    }
    if (service_ != nullptr) {
        std::exchange(service_, nullptr)->remove_receiver(this);
    }
}

int signal_registration_for(LoopCore& loop, int signum, SignalRegistration** out) noexcept {
    try {
        return loop.service<SignalService>().registration(signum, out);
    } catch (...) {
        return UV_ENOMEM;  // out of memory, or the loop is closing
    }
}

}  // namespace uvtask::detail
