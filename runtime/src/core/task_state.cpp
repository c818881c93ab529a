// The life of a spawned task: cancellation requests, joins, completion, reporting.
#include "uvtask/detail/task_state.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

namespace {
using Guard = std::lock_guard<SpinLock>;
}  // namespace

TaskState::TaskState(LoopCore& loop, std::uint64_t number, std::string name)
    : loop_(&loop), loop_id_(loop.id()), number_(number) {
    if (!name.empty()) {
        extras().name = std::move(name);
    }
}

TaskState::Extras& TaskState::extras() {
    if (!extras_) {
        extras_ = std::make_unique<Extras>();
    }
    return *extras_;
}

std::string TaskState::name() const {
    {
        Guard guard(lock_);
        if (extras_ && !extras_->name.empty()) {
            return extras_->name;
        }
    }
    return "Task-" + std::to_string(number_);
}

TaskState::~TaskState() = default;

// ---- cancellation

bool TaskState::request_cancel(std::string message, CancelKind kind, bool keep_pending_reason) {
    // Pointer comparison only: if our loop is gone we are done and return below.
    const bool on_loop_thread = tls_current_loop == loop_;
    std::stop_source* stop = nullptr;
    LoopHandles* remote_wake = nullptr;
    {
        Guard guard(lock_);
        if (done_.load(std::memory_order_relaxed)) {
            return false;
        }
        if (!keep_pending_reason || !cancel_requested_.load(std::memory_order_relaxed)) {
            if (extras_ || !message.empty()) {  // an empty message needs no allocation
                extras().message = std::move(message);
            }
            kind_ = kind;
        }
        cancelling_.fetch_add(1, std::memory_order_acq_rel);
        cancel_requested_.store(true, std::memory_order_release);
        stop = extras_ ? extras_->stop_source.get() : nullptr;
        if (!on_loop_thread) {
            // Under our lock: the loop's teardown marks us done under the same lock first, so
            // the loop is alive while we queue ourselves.
            remote_wake = loop_->enqueue_remote_cancel(this);
        }
    }
    if (remote_wake != nullptr) {
        // Outside our lock: the loop, once awake, takes it to deliver the cancel.
        LoopCore::send_remote_wake(remote_wake);
    }
    if (stop != nullptr) {
        stop->request_stop();
    }
    if (on_loop_thread) {
        deliver_cancel_if_suspended();
    }
    return true;
}

void TaskState::deliver_cancel_if_suspended() noexcept {
    if (suspended_in_ != nullptr && cancel_deliverable()) {
        suspended_in_->on_cancel(suspended_in_);
    }
}

CancelledError TaskState::take_cancel() {
    Guard guard(lock_);
    cancel_requested_.store(false, std::memory_order_release);
    return CancelledError(extras_ ? extras_->message : std::string(), kind_);
}

void TaskState::forward_cancel_to(TaskState& target) {
    std::string message;
    CancelKind kind;
    {
        Guard guard(lock_);
        message = extras_ ? extras_->message : std::string();
        kind = kind_;
    }
    target.request_cancel(std::move(message), kind);
}

int TaskState::uncancel() noexcept {
    Guard guard(lock_);
    int count = cancelling_.load(std::memory_order_relaxed);
    if (count > 0) {
        --count;
        cancelling_.store(count, std::memory_order_release);
        if (count == 0) {
            cancel_requested_.store(false, std::memory_order_release);
        }
    }
    return count;
}

std::stop_token TaskState::stop_token() {
    std::stop_source* source = nullptr;
    bool already_cancelled = false;
    {
        Guard guard(lock_);
        Extras& more = extras();
        if (!more.stop_source) {
            more.stop_source = std::make_unique<std::stop_source>();
            already_cancelled = cancelling_.load(std::memory_order_relaxed) > 0 ||
                                cancel_requested_.load(std::memory_order_relaxed);
        }
        source = more.stop_source.get();
    }
    if (already_cancelled) {
        source->request_stop();  // outside the lock: stop callbacks may call cancel()
    }
    return source->get_token();
}

// ---- joins and callbacks

void TaskState::add_waiter(JoinWaiter* waiter) noexcept {
    waiter->next = nullptr;
    waiter->prev = waiters_tail_;
    if (waiters_tail_ != nullptr) {
        waiters_tail_->next = waiter;
    } else {
        waiters_head_ = waiter;
    }
    waiters_tail_ = waiter;
    waiter->linked = true;
}

void TaskState::remove_waiter(JoinWaiter* waiter) noexcept {
    if (!waiter->linked) {
        return;
    }
    (waiter->prev != nullptr ? waiter->prev->next : waiters_head_) = waiter->next;
    (waiter->next != nullptr ? waiter->next->prev : waiters_tail_) = waiter->prev;
    waiter->prev = waiter->next = nullptr;
    waiter->linked = false;
}

void TaskState::wake_waiters() noexcept {
    while (JoinWaiter* waiter = waiters_head_) {
        remove_waiter(waiter);
        waiter->on_done(waiter);
    }
}

void TaskState::add_done_callback(std::function<void()> callback) {
    if (done()) {
        try {
            callback();
        } catch (...) {
            report({"exception in a done callback", name(), std::current_exception()});
        }
        return;
    }
    Guard guard(lock_);
    extras().done_callbacks.push_back(std::move(callback));
}

void TaskState::run_done_callbacks() noexcept {
    std::vector<std::function<void()>> callbacks;
    {
        Guard guard(lock_);
        if (!extras_) {
            return;
        }
        callbacks.swap(extras_->done_callbacks);
    }
    for (auto& callback : callbacks) {
        try {
            callback();
        } catch (...) {
            report({"exception in a done callback", name(), std::current_exception()});
        }
    }
}

// ---- lifecycle

bool TaskState::start_or_skip() noexcept {
    started_ = true;
    if (!cancel_requested()) {
        return false;
    }
    // Cancelled before its body first ran: end cancelled without running it (asyncio).
    exception_ = std::make_exception_ptr(take_cancel());
    outcome_ = Outcome::cancelled;
    std::exchange(frame_, {}).destroy();
    finish();
    return true;
}

void TaskState::on_body_final(std::coroutine_handle<> frame, PromiseBase& promise) noexcept {
    if (promise.exception) {
        outcome_ = promise.exception_is_cancel ? Outcome::cancelled : Outcome::failed;
        exception_ = std::move(promise.exception);
    } else {
        outcome_ = Outcome::value;
        collect_value(frame);
    }
    frame_ = {};
    frame.destroy();
    finish();
}

void TaskState::finish() noexcept {
    {
        Guard guard(lock_);
        done_.store(true, std::memory_order_release);
    }
    suspended_in_ = nullptr;
    loop_->unlink_live(this);
    wake_waiters();
    run_done_callbacks();
    release();  // the loop's reference
}

void TaskState::destroy_pending() noexcept {
    {
        Guard guard(lock_);
        done_.store(true, std::memory_order_release);
    }
    outcome_ = Outcome::cancelled;
    exception_ = std::make_exception_ptr(
        CancelledError("task destroyed while pending", CancelKind::shutdown));
    suspended_in_ = nullptr;
    while (JoinWaiter* waiter = waiters_head_) {
        remove_waiter(waiter);  // its task is being destroyed too: nobody to wake
    }
    std::vector<std::function<void()>> dropped;  // destroyed outside the lock
    {
        Guard guard(lock_);
        if (extras_) {
            dropped.swap(extras_->done_callbacks);
        }
    }
    if (frame_) {
        std::exchange(frame_, {}).destroy();
    }
    release();  // the loop's reference
}

void TaskState::report(const ExceptionContext& context) const noexcept {
    LoopCore* here = tls_current_loop;
    if (here != nullptr && here->id() == loop_id_) {
        here->report(context);
    } else {
        default_exception_handler(context);
    }
}

void TaskState::last_reference_gone() noexcept {
    if (outcome_ == Outcome::failed && !retrieved_) {
        report({"Task exception was never retrieved", name(), exception_});
    }
    destroy_self();
}

}  // namespace uvtask::detail
