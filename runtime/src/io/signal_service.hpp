// The loop's signal registrations (one uv_signal_t per signal number, kept for the loop's
// life) and what a SignalReceiver shares with its receive awaiter.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <utility>
#include <vector>

#include "uvtask/signal.hpp"

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

/// The registration of `signum` in `loop` (created and started on first use), or a libuv error
/// (`UV_ENOMEM` also when the loop is closing).
[[nodiscard]] int signal_registration_for(LoopCore& loop, int signum,
                                          SignalRegistration** out) noexcept;

}  // namespace uvtask::detail
