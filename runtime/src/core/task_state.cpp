// The life of a spawned task: cancellation requests, joins, completion, reporting.
#include "uvtask/detail/task_state.hpp"

#include <algorithm>
#include <mutex>
#include <utility>

#include "uvtask/exception_handler.hpp"
#include "uvtask/detail/raise.hpp"

namespace uvtask::detail {

namespace {
using Guard = std::lock_guard<SpinLock>;
}  // namespace

TaskState::TaskState(TaskHost& host, std::uint64_t number, std::string name)
    : host_(&host), loop_id_(host.id()), number_(number) {
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

bool TaskState::record_request(std::string& message, CancelKind kind, bool keep_pending_reason,
                               ScopedRequest* scoped, std::uint64_t origin) noexcept {
    // Pointer comparison only: if our loop is gone we are done and return below.
    const bool on_thread = on_loop_thread();
    std::stop_source* stop = nullptr;
    void* remote_wake = nullptr;
    {
        Guard guard(lock_);
        if (done_.load(std::memory_order_relaxed)) {
            return false;
        }
        const bool pending = cancel_requested_.load(std::memory_order_relaxed);
        if (!keep_pending_reason || !pending) {
            if (extras_ || !message.empty()) {  // an empty message needs no allocation
                try {
                    extras().message = std::move(message);
                } catch (...) {
                    // Out of memory for the extras: the request stands, without its message.
                }
            }
            kind_ = kind;
            cancel_origin_ = origin;
        }
        ++request_sequence_;
        ++undelivered_;
        if (host_->trace_flags.on(TraceFlags::latency_stats)) [[unlikely]] {
            try {
                CancelTimes& times = extras().cancel_times;
                if (times.requested_ns == 0) {
                    times.requested_ns = monotonic_ns();
                }
            } catch (...) {
                // Out of memory for the extras: this request goes untimed.
            }
        }
        if (scoped != nullptr) {
            scoped->sequence = request_sequence_;
            scoped->deliveries_before = deliveries_.load(std::memory_order_relaxed);
        }
        // Release (both): a thread that sees the flag or the count sees the message and kind
        // stored above; acq_rel on the count orders it with uncancel() on other threads.
        cancelling_.fetch_add(1, std::memory_order_acq_rel);
        cancel_requested_.store(true, std::memory_order_release);
        stop = extras_ ? extras_->stop_source.get() : nullptr;
        if (!on_thread) {
            // Under our lock: the loop's teardown marks us done under the same lock first, so
            // the loop is alive while we queue ourselves.
            remote_wake = host_->enqueue_remote_cancel(*this);
        }
    }
    if (remote_wake != nullptr) {
        // Outside our lock: the loop, once awake, takes it to deliver the cancel. The loop's
        // teardown waits for this call to return.
        host_->send_remote_wake(remote_wake);
    }
    if (stop != nullptr) {
        stop->request_stop();
    }
    return true;
}

bool TaskState::request_cancel(std::string message, CancelKind kind, bool keep_pending_reason,
                               std::uint64_t origin) noexcept {
    const bool on_thread = on_loop_thread();
    if (!record_request(message, kind, keep_pending_reason, nullptr, origin)) {
        return false;
    }
    if (on_thread) {
        run_cancel_callbacks();
        deliver_cancel_if_suspended();
    }
    return true;
}

ScopedRequest TaskState::request_cancel_scoped(std::string message, CancelKind kind) noexcept {
    ScopedRequest request;
    if (record_request(message, kind, /*keep_pending_reason=*/true, &request)) {
        run_cancel_callbacks();
        deliver_cancel_if_suspended();
    }
    return request;
}

Withdrawal TaskState::withdraw_scoped(const ScopedRequest& request) noexcept {
    Guard guard(lock_);
    Withdrawal out;
    int count = cancelling_.load(std::memory_order_relaxed);
    if (count > 0) {
        --count;
        cancelling_.store(count, std::memory_order_release);
    }
    out.remaining = count;
    out.newer = request_sequence_ != request.sequence;
    // Never delivered (no delivery since ours, and still pending): ours is one of the
    // undelivered requests; take it out. When it was the last — every other one since the last
    // delivery withdrawn too — nothing is pending any more, or a stray CancelledError would hit
    // the task's next suspension point after the scope. (At 0, nothing is outstanding at all.)
    if (deliveries_.load(std::memory_order_relaxed) == request.deliveries_before &&
        cancel_requested_.load(std::memory_order_relaxed) && undelivered_ > 0) {
        --undelivered_;
    }
    if (count == 0 || undelivered_ == 0) {
        cancel_requested_.store(false, std::memory_order_release);
        undelivered_ = 0;
        forget_request_time();  // withdrawn, never delivered: not a latency
    }
    return out;
}

int TaskState::handled_cancelling() const noexcept {
    Guard guard(lock_);
    return cancelling_.load(std::memory_order_relaxed) -
           (cancel_requested_.load(std::memory_order_relaxed) ? 1 : 0);
}

void TaskState::add_cancel_callback(CancelCallbackNode* node) noexcept {
    if (cancel_requested()) {
        node->run(node);
        return;
    }
    cancel_callbacks_.push_back(node);
}

void TaskState::run_cancel_callbacks() noexcept {
    while (CancelCallbackNode* node = cancel_callbacks_.pop_front()) {
        node->run(node);  // unlinked first: it may unregister or destroy itself
    }
}

void TaskState::deliver_cancel_if_suspended() noexcept {
    if (suspended_in_ != nullptr && cancel_deliverable()) {
        suspended_in_->on_cancel(suspended_in_);
    }
}

CancelledError TaskState::take_cancel() noexcept {
    std::uint64_t requested_ns = 0;
    CancelledError error = [&] {
        Guard guard(lock_);
        cancel_requested_.store(false, std::memory_order_release);
        undelivered_ = 0;
        if (extras_) {
            requested_ns = std::exchange(extras_->cancel_times.requested_ns, 0);
        }
        // Relaxed: a statistic read by the same thread's scopes (task groups) only.
        deliveries_.fetch_add(1, std::memory_order_relaxed);
        // Moved out, not copied: the request is consumed, and a delivery never allocates.
        return CancelledError(extras_ ? std::move(extras_->message) : std::string(), kind_);
    }();
    if (requested_ns != 0 && host_->trace_flags.on(TraceFlags::latency_stats)) [[unlikely]] {
        const std::uint64_t now = monotonic_ns();
        {
            Guard guard(lock_);
            extras_->cancel_times.delivered_ns = now;  // extras_ exists: it held requested_ns
        }
        host_->note_cancel_delivered(now - requested_ns);
    }
    return error;
}

int TaskState::uncancel() noexcept {
    Guard guard(lock_);
    int count = cancelling_.load(std::memory_order_relaxed);
    if (count > 0) {
        --count;
        cancelling_.store(count, std::memory_order_release);
        if (count == 0) {
            cancel_requested_.store(false, std::memory_order_release);
            undelivered_ = 0;
            forget_request_time();
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

// ---- done callbacks

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
    // Cancelled before its body first ran: end cancelled without running it (asyncio). Thrown
    // and caught rather than std::make_exception_ptr, which copies the error (and so allocates
    // its message): this way nothing allocates but the exception object itself.
    try {
        throw take_cancel();
    } catch (...) {
        exception_ = std::current_exception();
    }
    ending_ = Ending::cancelled;
    std::exchange(frame_, {}).destroy();
    finish();
    return true;
}

void TaskState::on_body_final(std::coroutine_handle<> frame, PromiseBase& promise) noexcept {
    if (promise.propagated_cancel != nullptr) {
        end_cancelled(*promise.propagated_cancel);  // before the frame that holds it goes
    } else if (promise.exception) {
        ending_ = promise.exception_is_cancel ? Ending::cancelled : Ending::failed;
        exception_ = std::move(promise.exception);
    } else {
        ending_ = Ending::value;
        collect_value(frame);
        if (host_->trace_flags.on(TraceFlags::swallowed_cancels)) [[unlikely]] {
            report_if_swallowed();
        }
    }
    frame_ = {};
    frame.destroy();
    finish();
}

void TaskState::end_cancelled(CancelledError& error) noexcept {
    ending_ = Ending::cancelled;
    ending_kind_ = error.kind();
    if (error.message().empty()) {
        return;
    }
    try {
        // Under the lock: another thread may be creating the extras for a cancel() right now.
        Guard guard(lock_);
        extras().ending_message = error.message();
    } catch (...) {
        // Out of memory: the ending keeps its kind, without the message.
    }
}

std::exception_ptr TaskState::ending_exception() noexcept {
    if (ending_ == Ending::cancelled && !exception_) {
        try {
            // No throw: libstdc++'s make_exception_ptr builds the exception object in place.
            return std::make_exception_ptr(ending_cancellation());
        } catch (...) {
            return std::current_exception();  // std::bad_alloc copying the message
        }
    }
    mark_retrieved();
    return exception_;
}

CancelledError TaskState::ending_cancellation() const {
    if (exception_) {
        return cancellation_of(exception_);  // the body let a thrown CancelledError escape
    }
    // After done() (acquire): the message was written before the end was published.
    std::string message;
    if (extras_) {
        message = extras_->ending_message;
    }
    return CancelledError(std::move(message), ending_kind_);
}

void TaskState::throw_cancelled_ending() const {
    if (exception_) {
        std::rethrow_exception(exception_);
    }
    throw ending_cancellation();
}

void TaskState::finish() noexcept {
    if (ending_ == Ending::cancelled && host_->trace_flags.on(TraceFlags::latency_stats))
        [[unlikely]] {
        std::uint64_t delivered_ns = 0;
        {
            Guard guard(lock_);
            delivered_ns = extras_ ? extras_->cancel_times.delivered_ns : 0;
        }
        if (delivered_ns != 0) {
            host_->note_cancelled_end(monotonic_ns() - delivered_ns);
        }
    }
    {
        Guard guard(lock_);
        done_.store(true, std::memory_order_release);
    }
    suspended_in_ = nullptr;
    host_->task_ended(*this);
    wake_waiters(/*local_ones=*/true);
    run_done_callbacks();
    release();  // the loop's reference
}

void TaskState::destroy_pending(const char* why) noexcept {
    // The ending first, then `done_` (release): a handle read on another thread that sees the
    // task done sees how it ended.
    ending_ = Ending::cancelled;
    exception_ = std::make_exception_ptr(CancelledError(why, CancelKind::shutdown));
    {
        Guard guard(lock_);
        done_.store(true, std::memory_order_release);
    }
    suspended_in_ = nullptr;
    // A joiner on this loop is being destroyed too: nobody to wake. One on another loop lives
    // on: it is woken, and reads the ending written above.
    wake_waiters(/*local_ones=*/false);
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

void TaskState::last_reference_gone() noexcept {
    if (ending_ == Ending::failed && !retrieved_.load(std::memory_order_relaxed)) {
        report({"Task exception was never retrieved", name(), exception_});
    }
    destroy_self();
}

}  // namespace uvtask::detail
