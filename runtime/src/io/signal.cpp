// Signals: a loop service keeping one uv_signal_t per signal number for the loop's whole life;
// each registration wakes its wait_signal() waiters, keeps a signal nobody waited for, and
// hands every signal to the SignalReceivers subscribed to it.
#include "uvtask/signal.hpp"

#include <uv.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

class SignalService;

/// A receiver's link into the registration of one of its signals.
struct SignalSubscription : ListHook<SignalSubscription> {
    SignalReceiverCore* owner = nullptr;
    SignalRegistration* registration = nullptr;
};

/// A loop's `uv_signal_t` for one signal number, started for good. Its handle keeps the loop
/// alive (`uv_ref`) only while a task waits on it.
class SignalRegistration {
public:
    SignalRegistration(SignalService& service, int signum) noexcept
        : service_(service), signum_(signum) {}
    SignalRegistration(const SignalRegistration&) = delete;
    SignalRegistration& operator=(const SignalRegistration&) = delete;

    /// uv_signal_init + uv_signal_start. On failure the handle (if initialised) is closed and
    /// this object freed by its close callback; the caller must not touch it.
    [[nodiscard]] int start(uv_loop_t* loop) noexcept;
    /// uv_close; the close callback frees this object and tells the service.
    void close() noexcept;

    /// A `wait_signal` waiter: returns true if a kept signal was taken instead (no wait).
    [[nodiscard]] bool take_kept() noexcept { return std::exchange(kept_, false); }
    void add_waiter(SignalAwaiter* waiter) noexcept {
        waiters_.push_back(waiter);
        update_ref();
    }
    void remove_waiter(SignalAwaiter* waiter) noexcept {
        waiters_.remove(waiter);
        update_ref();
    }
    void subscribe(SignalSubscription* subscription) noexcept {
        subscribers_.push_back(subscription);
    }
    void unsubscribe(SignalSubscription* subscription) noexcept {
        subscribers_.remove(subscription);
    }
    /// A subscribed receiver starts (+1) or stops (-1) waiting in `receive()`.
    void receiver_waits(int delta) noexcept {
        waiting_receivers_ += delta;
        update_ref();
    }

private:
    static void on_signal(uv_signal_t* handle, int signum) noexcept;
    void update_ref() noexcept {
        auto* h = reinterpret_cast<uv_handle_t*>(&handle_);
        if (!waiters_.empty() || waiting_receivers_ > 0) {
            uv_ref(h);
        } else {
            uv_unref(h);
        }
    }

    uv_signal_t handle_{};
    SignalService& service_;
    int signum_;
    int waiting_receivers_ = 0;
    bool kept_ = false;  // arrived while no wait_signal waited (coalesced)
    IntrusiveList<SignalAwaiter, SignalAwaiter> waiters_;
    IntrusiveList<SignalSubscription, SignalSubscription> subscribers_;
};

/// What a SignalReceiver shares with its receive awaiter. Reference-counted (loop thread).
class SignalReceiverCore : public ListHook<SignalReceiverCore> {
public:
    void retain() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            std::unique_ptr<SignalReceiverCore> owned(this);
        }
    }
    [[nodiscard]] bool closed() const noexcept { return closed_; }
    [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }
    [[nodiscard]] SignalReceiveAwaiter* receiver() const noexcept { return receiver_; }

    /// Subscribes to `signals` (throws IoError / bad_alloc; nothing subscribed then).
    void open(SignalService& service, std::initializer_list<int> signals);
    /// Unsubscribes; a waiting receive gets ECANCELED. Idempotent.
    void close() noexcept;
    /// The loop tears down: forget the registrations (they are being closed).
    void detach() noexcept;

    [[nodiscard]] bool take_pending(int* signum) noexcept {
        if (pending_.empty()) {
            return false;
        }
        *signum = pending_.front();
        pending_.erase(pending_.begin());
        return true;
    }
    void start_waiting(SignalReceiveAwaiter* awaiter) noexcept {
        receiver_ = awaiter;
        for_each_registration([](SignalRegistration* r) { r->receiver_waits(+1); });
    }
    void stop_waiting() noexcept {
        if (receiver_ != nullptr) {
            receiver_ = nullptr;
            for_each_registration([](SignalRegistration* r) { r->receiver_waits(-1); });
        }
    }
    /// A signal of the set arrived.
    void deliver(int signum) noexcept;

private:
    template <class F>
    void for_each_registration(F f) noexcept {
        for (std::size_t i = 0; i < count_; ++i) {
            if (subscriptions_[i].registration != nullptr) {
                f(subscriptions_[i].registration);
            }
        }
    }

    int refs_ = 1;
    bool closed_ = false;
    SignalService* service_ = nullptr;
    SignalReceiveAwaiter* receiver_ = nullptr;  // the task waiting in receive(), if any
    std::unique_ptr<SignalSubscription[]> subscriptions_;
    std::size_t count_ = 0;
    std::vector<int> pending_;  // distinct, in arrival order; capacity for every signal of the set
};

/// The loop's signal registrations, by signal number, kept until the loop tears down.
class SignalService final : public LoopService {
public:
    explicit SignalService(LoopCore& loop) noexcept : loop_(loop) {}

    /// The registration of `signum`, started on first use. Returns 0 or a libuv error.
    [[nodiscard]] int registration(int signum, SignalRegistration** out) noexcept {
        if (signum > 0 && static_cast<std::size_t>(signum) < by_signum_.size() &&
            by_signum_[signum] != nullptr) {
            *out = by_signum_[signum];
            return 0;
        }
        if (signum <= 0 || signum >= 1024) {
            return UV_EINVAL;
        }
        SignalRegistration* made = nullptr;
        try {
            if (by_signum_.size() <= static_cast<std::size_t>(signum)) {
                by_signum_.resize(static_cast<std::size_t>(signum) + 1, nullptr);
            }
            made = std::make_unique<SignalRegistration>(*this, signum).release();
        } catch (...) {
            return UV_ENOMEM;
        }
        ++open_;
        if (const int rc = made->start(loop_.native()); rc < 0) {
            return rc;  // `made` closes and frees itself
        }
        by_signum_[signum] = made;
        *out = made;
        return 0;
    }

    void add_receiver(SignalReceiverCore* receiver) noexcept { receivers_.push_back(receiver); }
    void remove_receiver(SignalReceiverCore* receiver) noexcept { receivers_.remove(receiver); }

    /// A registration's close callback ran (it freed itself).
    void registration_closed() noexcept {
        if (--open_ == 0 && closing_) {
            std::unique_ptr<SignalService> owned(this);
        }
    }

    void close() noexcept override {
        closing_ = true;
        while (SignalReceiverCore* receiver = receivers_.pop_front()) {
            receiver->detach();  // a receiver left past the loop's end (misuse) stays harmless
        }
        const bool none = open_ == 0;
        for (SignalRegistration*& registration : by_signum_) {
            if (registration != nullptr) {
                std::exchange(registration, nullptr)->close();
            }
        }
        if (none) {
            std::unique_ptr<SignalService> owned(this);
        }
    }

private:
    LoopCore& loop_;
    std::vector<SignalRegistration*> by_signum_;
    IntrusiveList<SignalReceiverCore, SignalReceiverCore> receivers_;
    int open_ = 0;  // registrations whose close callback has not run
    bool closing_ = false;
};

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

namespace {

/// The registration of `signum` in the current task's loop, or a libuv error.
int registration_for(LoopCore& loop, int signum, SignalRegistration** out) noexcept {
    try {
        return loop.service<SignalService>().registration(signum, out);
    } catch (...) {
        return UV_ENOMEM;  // out of memory, or the loop is closing
    }
}

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
    if (const int rc = registration_for(loop(), signum_, &registration); rc < 0) {
        return done_now(rc);
    }
    if (registration->take_kept()) {
        return done_now(signum_);  // it arrived since the last wait
    }
    registration_ = registration;
    registration->add_waiter(this);
    park(resume_at, &on_cancel);
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
    park(resume_at, &on_cancel);
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
