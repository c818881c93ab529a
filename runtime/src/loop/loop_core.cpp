// The scheduler: a ready queue drained from a libuv check handle (an idle handle keeps the poll
// from blocking while tasks are ready), one uv_timer_t over a queue of deadlines, a uv_async_t
// for cancels from other threads.
#include "uvtask/detail/loop_core.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "time/timer_queue.hpp"
#include "uvtask/errors.hpp"

namespace uvtask::detail {

namespace {
std::atomic<std::uint64_t> next_loop_id{1};
constexpr std::uint64_t batch_budget_ns = 50'000;  // the fairness bound: timers and I/O wait ≤ ~50 µs
}  // namespace

std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
}

/// The libuv handles of a loop. Separately allocated: on an adopted loop the close callbacks run
/// on the application's next `uv_run`, after the LoopCore is gone; the last one frees this.
struct LoopHandles {
    uv_idle_t idle{};
    uv_check_t check{};
    uv_timer_t timer{};
    uv_async_t async{};
    uv_prepare_t prepare{};  // started while work is watched for its end (EndWatch)
    LoopCore* core = nullptr;
    int open = 0;
    std::mutex inbox_mutex;
    std::vector<TaskState*> inbox;       // each holds a reference
    std::atomic<int> remote_senders{0};  // threads between enqueue and uv_async_send

    static LoopCore* core_of(void* data) noexcept { return static_cast<LoopHandles*>(data)->core; }
    // The idle handle only keeps libuv's poll from blocking while tasks are ready; the queue is
    // drained in the check phase alone, so that exactly one batch (≤ ~50 µs) separates two
    // polls. (Draining in both phases let two batches, ~100 µs, pass between polls.)
    static void on_idle(uv_idle_t* /*handle*/) noexcept {}
    static void on_check(uv_check_t* handle) noexcept {
        LoopCore* core = core_of(handle->data);
        if (core != nullptr && core->ready_head_ != nullptr) {
            core->drain();
        }
    }
    static void on_timer(uv_timer_t* handle) noexcept {
        if (LoopCore* core = core_of(handle->data)) {
            core->fire_timers();
        }
    }
    static void on_async(uv_async_t* handle) noexcept {
        if (LoopCore* core = core_of(handle->data)) {
            core->drain_remote_cancels();
        }
    }
    static void on_prepare(uv_prepare_t* handle) noexcept {
        if (LoopCore* core = core_of(handle->data)) {
            core->poll_watched_ends();
        }
    }
    static void on_closed(uv_handle_t* handle) noexcept {
        auto* self = static_cast<LoopHandles*>(handle->data);
        if (--self->open == 0) {
            std::unique_ptr<LoopHandles> owner(self);
        }
    }
};

LoopCore::LoopCore(uv_loop_t* loop)
    : loop_(loop), id_(next_loop_id.fetch_add(1)), handles_(nullptr),
      timers_(std::make_unique<TimerQueue>()) {
    if (loop == nullptr) {
        throw InvalidStateError("Loop(uv_loop_t*): the loop is null");
    }
    if (tls_current_loop != nullptr) {
        throw InvalidStateError("this thread already has a uvtask Loop (one per thread)");
    }
    auto handles = std::make_unique<LoopHandles>();
    handles->core = this;
    // The only init that can fail (no file descriptor for the wake-up) comes first: libuv does
    // not register a handle whose init failed, so nothing is left half-built in the loop.
    if (int rc = uv_async_init(loop, &handles->async, &LoopHandles::on_async); rc != 0) {
        throw InvalidStateError(std::string("uv_async_init: ") + uv_strerror(rc));
    }
    // These cannot fail on a valid loop (libuv only initialises fields).
    uv_idle_init(loop, &handles->idle);
    uv_check_init(loop, &handles->check);
    uv_timer_init(loop, &handles->timer);
    uv_prepare_init(loop, &handles->prepare);
    handles->open = 5;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&handles->idle),
                           reinterpret_cast<uv_handle_t*>(&handles->check),
                           reinterpret_cast<uv_handle_t*>(&handles->timer),
                           reinterpret_cast<uv_handle_t*>(&handles->async),
                           reinterpret_cast<uv_handle_t*>(&handles->prepare)}) {
        h->data = handles.get();
    }
    uv_check_start(&handles->check, &LoopHandles::on_check);
    uv_unref(reinterpret_cast<uv_handle_t*>(&handles->check));
    uv_unref(reinterpret_cast<uv_handle_t*>(&handles->async));
    uv_unref(reinterpret_cast<uv_handle_t*>(&handles->prepare));
    handles_ = handles.release();
    tls_current_loop = this;
}

LoopCore::~LoopCore() {
    close();
    destroy_pending_tasks();
    close_handles();
    if (tls_current_loop == this) {
        tls_current_loop = nullptr;
    }
}

void LoopCore::close_handles() noexcept {
    closed_ = true;
    if (handles_ == nullptr) {
        return;
    }
    // Every task is done (marked under its lock), so no new remote cancel can be queued; let
    // the ones under way finish their uv_async_send before the handle is closed.
    while (handles_->remote_senders.load(std::memory_order_acquire) != 0) {
        std::this_thread::yield();
    }
    drain_remote_cancels();  // release the references the inbox holds
    handles_->core = nullptr;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&handles_->idle),
                           reinterpret_cast<uv_handle_t*>(&handles_->check),
                           reinterpret_cast<uv_handle_t*>(&handles_->timer),
                           reinterpret_cast<uv_handle_t*>(&handles_->async),
                           reinterpret_cast<uv_handle_t*>(&handles_->prepare)}) {
        uv_close(h, &LoopHandles::on_closed);
    }
    handles_ = nullptr;
    wake_armed_ = true;  // nothing may start the idle handle any more
}

// ---- ready queue

void LoopCore::arm_wake() noexcept {
    if (handles_ == nullptr) {
        return;
    }
    uv_idle_start(&handles_->idle, &LoopHandles::on_idle);
    wake_armed_ = true;
}

void LoopCore::drain() noexcept {
    if (draining_) {
        return;
    }
    draining_ = true;
    const std::uint64_t start = now_ns();
    std::uint64_t last = start;
    drain_clock_ns_ = start;
    std::uint32_t countdown = batch_stride_;
    while (TaskState* task = ready_head_) {
        ready_head_ = task->next_ready;
        if (ready_head_ == nullptr) {
            ready_tail_ = nullptr;
        }
        tls_current_task = task;
        slice_countdown_ = 1;  // a new time slice for checkpoint()
        slice_started_ns_ = 0;
        task->run_step();  // `task` may be gone after this
        if (--countdown == 0) {
            // The clock is read every `batch_stride_` resumes, the stride adapting so that a
            // batch reads it about eight times: cheap yields, and long steps still bounded.
            const std::uint64_t now = now_ns();
            drain_clock_ns_ = now;
            if (now - start >= batch_budget_ns) {
                break;
            }
            const std::uint64_t per_step = std::max<std::uint64_t>(1, (now - last) / batch_stride_);
            batch_stride_ = static_cast<std::uint32_t>(
                std::clamp<std::uint64_t>(batch_budget_ns / 8 / per_step, 1, 1024));
            countdown = batch_stride_;
            last = now;
        }
    }
    tls_current_task = nullptr;
    draining_ = false;
    if (ready_head_ == nullptr && wake_armed_ && handles_ != nullptr) {
        uv_idle_stop(&handles_->idle);
        wake_armed_ = false;
    }
}

// ---- tasks

void LoopCore::adopt_new_task(TaskState* task) noexcept {
    task->prev_live = nullptr;
    task->next_live = live_head_;
    if (live_head_ != nullptr) {
        live_head_->prev_live = task;
    }
    live_head_ = task;
    ++live_count_;
    schedule(task);
}

void LoopCore::unlink_live(TaskState* task) noexcept {
    (task->prev_live != nullptr ? task->prev_live->next_live : live_head_) = task->next_live;
    if (task->next_live != nullptr) {
        task->next_live->prev_live = task->prev_live;
    }
    task->prev_live = task->next_live = nullptr;
    --live_count_;
}

bool LoopCore::slice_check_clock() noexcept {
    const std::uint64_t now = now_ns();
    if (slice_started_ns_ == 0) {
        // The task's first clock read since it was resumed. Its slice began at the resume, not
        // now (work before the first checkpoint counts); the ready queue's last clock read is
        // a free bound no later than the resume, so a checkpoint may yield early, never late.
        slice_started_ns_ = drain_clock_ns_ != 0 ? drain_clock_ns_ : now;
        slice_last_ns_ = now;
        slice_countdown_ = slice_stride_;
        return now - slice_started_ns_ >= time_slice_ns_;
    }
    if (now - slice_started_ns_ >= time_slice_ns_) {
        slice_countdown_ = 1;
        return true;
    }
    // Aim at about eight clock reads per slice, whatever the rate of checkpoints.
    const std::uint64_t per_call =
        std::max<std::uint64_t>(1, (now - slice_last_ns_) / slice_stride_);
    const std::uint64_t wanted = std::max<std::uint64_t>(1, time_slice_ns_ / 8 / per_call);
    slice_stride_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(wanted, 1u << 16));
    slice_last_ns_ = now;
    slice_countdown_ = slice_stride_;
    return false;
}

std::size_t LoopCore::cancel_all(const std::string& message, CancelKind kind, bool once) {
    std::vector<TaskState*> targets;
    targets.reserve(live_count_);
    for (TaskState* task = live_head_; task != nullptr; task = task->next_live) {
        if (once && task->shutdown_requested) {
            continue;
        }
        task->shutdown_requested = true;
        task->add_ref();
        targets.push_back(task);
    }
    std::size_t asked = 0;
    for (TaskState* task : targets) {
        if (task->request_cancel(message, kind)) {
            ++asked;
        }
        task->release();
    }
    return asked;
}

void LoopCore::destroy_pending_tasks() noexcept {
    ready_head_ = ready_tail_ = nullptr;
    while (TaskState* task = live_head_) {
        unlink_live(task);
        report({"Task was destroyed but it is pending!", task->name(), nullptr});
        task->destroy_pending();
    }
    ready_head_ = ready_tail_ = nullptr;
}

// ---- other threads

LoopHandles* LoopCore::enqueue_remote_cancel(TaskState* task) noexcept {
    LoopHandles* handles = handles_;
    if (handles == nullptr) {
        return nullptr;
    }
    task->add_ref();
    handles->remote_senders.fetch_add(1, std::memory_order_acq_rel);
    {
        std::lock_guard<std::mutex> guard(handles->inbox_mutex);
        handles->inbox.push_back(task);
    }
    return handles;
}

void LoopCore::send_remote_wake(LoopHandles* handles) noexcept {
    uv_async_send(&handles->async);
    handles->remote_senders.fetch_sub(1, std::memory_order_release);  // our last touch
}

void LoopCore::drain_remote_cancels() noexcept {
    if (handles_ == nullptr) {
        return;
    }
    std::vector<TaskState*> posted;
    {
        std::lock_guard<std::mutex> guard(handles_->inbox_mutex);
        posted.swap(handles_->inbox);
    }
    for (TaskState* task : posted) {
        if (!task->done() && !closed_) {
            task->deliver_cancel_if_suspended();
        }
        task->release();
    }
}

// ---- work on other threads asked to stop

void LoopCore::watch_end(EndWatch* node, std::uint64_t spin_ns) noexcept {
    if (node->watched || handles_ == nullptr) {
        return;
    }
    node->spin_until_ns = now_ns() + spin_ns;
    node->prev = nullptr;
    node->next = ends_head_;
    if (ends_head_ != nullptr) {
        ends_head_->prev = node;
    }
    ends_head_ = node;
    node->watched = true;
    uv_prepare_start(&handles_->prepare, &LoopHandles::on_prepare);
}

void LoopCore::unwatch_end(EndWatch* node) noexcept {
    if (!node->watched) {
        return;
    }
    (node->prev != nullptr ? node->prev->next : ends_head_) = node->next;
    if (node->next != nullptr) {
        node->next->prev = node->prev;
    }
    node->prev = node->next = nullptr;
    node->watched = false;
    if (ends_head_ == nullptr && handles_ != nullptr) {
        uv_prepare_stop(&handles_->prepare);
    }
}

void LoopCore::poll_watched_ends() noexcept {
    for (;;) {
        std::uint64_t spin_until = 0;
        for (EndWatch* node = ends_head_; node != nullptr;) {
            EndWatch* next = node->next;
            if (node->poll_end(node)) {
                unwatch_end(node);
            } else {
                spin_until = std::max(spin_until, node->spin_until_ns);
            }
            node = next;
        }
        // Spin only while the loop would otherwise block: nothing ready, a fresh watch left.
        if (ends_head_ == nullptr || ready_head_ != nullptr || now_ns() >= spin_until) {
            return;
        }
    }
}

// ---- timers

void LoopCore::add_timer(TimerNode* node) {
    if (timers_->push(node)) {
        rearm_timer();
    }
}

void LoopCore::remove_timer(TimerNode* node) noexcept {
    if (!node->armed()) {
        return;
    }
    if (timers_->erase(node)) {
        rearm_timer();
    }
}

void LoopCore::rearm_timer() noexcept {
    if (handles_ == nullptr) {
        return;
    }
    if (timers_->empty()) {
        uv_timer_stop(&handles_->timer);
        return;
    }
    // uv_now() counts whole milliseconds and never runs ahead of the monotonic clock, so
    // waiting until uv_now() >= the bucket's millisecond never fires before a deadline.
    const std::uint64_t due_ms = timers_->earliest_ms();
    const std::uint64_t now_ms = uv_now(loop_);
    std::uint64_t timeout = due_ms > now_ms ? due_ms - now_ms : 0;
    if (timeout == 0 && due_ms * 1'000'000 > now_ns()) {
        timeout = 1;  // uv_now() is behind the clock: don't spin
    }
    uv_timer_start(&handles_->timer, &LoopHandles::on_timer, timeout, 0);
}

void LoopCore::fire_timers() noexcept {
    const std::uint64_t now_ms = now_ns() / 1'000'000;
    while (TimerNode* node = timers_->pop_due(now_ms)) {
        node->on_fire(node);
    }
    rearm_timer();
}

// ---- errors

void LoopCore::report(const ExceptionContext& context) noexcept {
    if (handler_) {
        try {
            handler_(context);
            return;
        } catch (...) {
            default_exception_handler(
                {"the loop's exception handler threw", context.task_name, std::current_exception()});
        }
    }
    default_exception_handler(context);
}

LoopCore& loop_for_spawn(bool task_valid) {
    LoopCore* loop = tls_current_loop;
    if (loop == nullptr) {
        throw InvalidStateError("spawn(): no uvtask Loop on this thread (use run() or a Loop)");
    }
    if (loop->closed()) {
        throw InvalidStateError("spawn(): the loop is closed");
    }
    if (!task_valid) {
        throw InvalidStateError("spawn(): the Task is empty (already awaited or spawned?)");
    }
    return *loop;
}

}  // namespace uvtask::detail
