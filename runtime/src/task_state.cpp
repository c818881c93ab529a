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

TaskState::TaskState(LoopCore& loop, std::string name) noexcept
    : loop_(&loop), loop_id_(loop.id()), name_(std::move(name)) {}

TaskState::~TaskState() = default;

// ---- cancellation

bool TaskState::request_cancel(std::string message, CancelKind kind) {
    // Pointer comparison only: if our loop is gone we are done and return below.
    const bool on_loop_thread = tls_current_loop == loop_;
    std::stop_source* stop = nullptr;
    {
        Guard guard(lock_);
        if (done_.load(std::memory_order_relaxed)) {
            return false;
        }
        message_ = std::move(message);
        kind_ = kind;
        cancelling_.fetch_add(1, std::memory_order_acq_rel);
        cancel_requested_.store(true, std::memory_order_release);
        stop = stop_source_ptr_.load(std::memory_order_acquire);
        if (!on_loop_thread) {
            // Under our lock: the loop's teardown marks us done under the same lock first, so
            // the loop is alive while we post.
            loop_->post_remote_cancel(this);
        }
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
    return CancelledError(message_, kind_);
}

void TaskState::forward_cancel_to(TaskState& target) {
    std::string message;
    CancelKind kind;
    {
        Guard guard(lock_);
        message = message_;
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
    std::stop_source* source = stop_source_ptr_.load(std::memory_order_acquire);
    if (source == nullptr) {
        auto fresh = std::make_unique<std::stop_source>();
        bool already_cancelled = false;
        {
            Guard guard(lock_);
            stop_source_ = std::move(fresh);
            source = stop_source_.get();
            stop_source_ptr_.store(source, std::memory_order_release);
            already_cancelled = cancelling_.load(std::memory_order_relaxed) > 0 ||
                                cancel_requested_.load(std::memory_order_relaxed);
        }
        if (already_cancelled) {
            source->request_stop();
        }
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
            report({"exception in a done callback", name_, std::current_exception()});
        }
        return;
    }
    if (!done_callbacks_) {
        done_callbacks_ = std::make_unique<std::vector<std::function<void()>>>();
    }
    done_callbacks_->push_back(std::move(callback));
}

void TaskState::run_done_callbacks() noexcept {
    if (!done_callbacks_) {
        return;
    }
    auto callbacks = std::move(done_callbacks_);
    for (auto& callback : *callbacks) {
        try {
            callback();
        } catch (...) {
            report({"exception in a done callback", name_, std::current_exception()});
        }
    }
}

// ---- checkpoint() time slice

bool TaskState::slice_check_clock() noexcept {
    const std::uint64_t now = now_ns();
    const std::uint64_t slice = loop_->time_slice_ns();
    if (slice_started_ns_ == 0) {
        slice_started_ns_ = now;
        slice_last_ns_ = now;
        slice_countdown_ = slice_stride_;
        return slice == 0;
    }
    if (now - slice_started_ns_ >= slice) {
        slice_countdown_ = 1;
        return true;
    }
    // Aim at about eight clock reads per slice, whatever the rate of checkpoints.
    const std::uint64_t per_call = std::max<std::uint64_t>(1, (now - slice_last_ns_) / slice_stride_);
    const std::uint64_t wanted = std::max<std::uint64_t>(1, slice / 8 / per_call);
    slice_stride_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, 1u << 16));
    slice_last_ns_ = now;
    slice_countdown_ = slice_stride_;
    return false;
}

// ---- lifecycle

bool TaskState::start_or_skip() noexcept {
    started_ = true;
    if (!cancel_requested()) {
        return false;
    }
    // Cancelled before its body first ran: end cancelled without running it (asyncio).
    {
        Guard guard(lock_);
        exception_ = std::make_exception_ptr(CancelledError(message_, kind_));
    }
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
    done_callbacks_.reset();
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
        report({"Task exception was never retrieved", name_, exception_});
    }
    destroy_self();
}

}  // namespace uvtask::detail
