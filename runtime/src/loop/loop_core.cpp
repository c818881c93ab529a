// The loop's life: its libuv handles, its live tasks, its services, its teardown.
#include "uvtask/detail/loop_core.hpp"

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "loop/latency_histogram.hpp"
#include "loop/loop_handles.hpp"
#include "uvtask/errors.hpp"

namespace uvtask::detail {

namespace {
std::atomic<std::uint64_t> next_loop_id{1};
std::atomic<std::size_t> next_service{0};
}  // namespace

std::size_t next_service_index() noexcept {
    // Relaxed: each service type takes its index once (a function-local static); only
    // uniqueness matters.
    return next_service.fetch_add(1, std::memory_order_relaxed);
}

void LoopHandles::on_idle(uv_idle_t* /*handle*/) noexcept {}

void LoopHandles::on_closed(uv_handle_t* handle) noexcept {
    auto* self = static_cast<LoopHandles*>(handle->data);
    if (--self->open == 0) {
        std::unique_ptr<LoopHandles> owner(self);
    }
}

LoopCore::LoopCore(uv_loop_t* loop)
    : TaskHost(next_loop_id.fetch_add(1, std::memory_order_relaxed)), loop_(loop),
      handles_(nullptr), inbox_(std::make_unique<RemoteInbox>()) {
    if (loop == nullptr) {
        throw InvalidStateError("Loop(uv_loop_t*): the loop is null");
    }
    if (tls_current_host != nullptr) {
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
    handles->open = 3;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&handles->idle),
                           reinterpret_cast<uv_handle_t*>(&handles->check),
                           reinterpret_cast<uv_handle_t*>(&handles->async)}) {
        h->data = handles.get();
    }
    uv_check_start(&handles->check, &LoopHandles::on_check);
    uv_unref(reinterpret_cast<uv_handle_t*>(&handles->check));
    uv_unref(reinterpret_cast<uv_handle_t*>(&handles->async));
    inbox_->async = &handles->async;
    handles_ = handles.release();
    tls_current_host = this;
}

LoopCore::~LoopCore() {
    close();
    destroy_pending_tasks();
    close_handles();
    if (tls_current_host == this) {
        tls_current_host = nullptr;
    }
}

// ---- tasks

void LoopCore::adopt_new_task(TaskState* task) noexcept {
    load_.fetch_add(1, std::memory_order_relaxed);  // relaxed: see load()
    take_task(task);
}

void LoopCore::take_task(TaskState* task) noexcept {
    // Spawned by the running task of this loop, if any (not by another thread's spawn_on).
    if (TaskState* parent = tls_current_task; parent != nullptr && tls_current_host == this) {
        task->trace.parent = parent->number();
    }
    task->trace.born_ms = uv_now(loop_);
    live_.push_back(task);
    schedule(task);
}

bool LoopCore::inbox_has_work() noexcept {
    std::lock_guard<std::mutex> guard(inbox_->mutex);
    return inbox_->head != nullptr;
}

bool LoopCore::may_be_woken_from_elsewhere(const TaskState* main) noexcept {
    if (exposed_ || inbox_has_work()) {
        return true;
    }
    bool handle_held = false;
    live_.for_each([&](TaskState* task) {
        if (task->handle_count() > (task == main ? 1U : 0U)) {
            handle_held = true;
        }
    });
    return handle_held;
}

std::size_t LoopCore::cancel_all(const std::string& message, CancelKind kind, bool once) {
    std::vector<TaskState*> targets;
    targets.reserve(live_.size());
    live_.for_each([&](TaskState* task) {
        if (once && task->shutdown_requested) {
            return;
        }
        task->shutdown_requested = true;
        task->add_ref();
        targets.push_back(task);
    });
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
    ready_head_ = ready_tail_ = round_end_ = nullptr;
    while (TaskState* task = live_.pop_front()) {
        report({"Task was destroyed but it is pending!", task->name(), nullptr});
        load_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see load()
        task->destroy_pending();
    }
    ready_head_ = ready_tail_ = round_end_ = nullptr;
}

// ---- services

void LoopCore::check_can_add_service() const {
    if (handles_ == nullptr) {
        throw InvalidStateError("the uvtask Loop is closed");
    }
}

void LoopCore::install_service(std::size_t index, std::unique_ptr<LoopService> service) {
    if (services_.size() <= index) {
        services_.resize(index + 1, nullptr);
    }
    service_order_.reserve(service_order_.size() + 1);  // then nothing below throws
    services_[index] = service.get();
    service_order_.push_back(service.release());
}

// ---- teardown

void LoopCore::close() noexcept {
    if (closed()) {
        return;
    }
    closed_.store(true, std::memory_order_relaxed);  // relaxed: see closed()
    {
        std::lock_guard<std::mutex> guard(inbox_->mutex);
        inbox_->closed = true;
    }
    drain_inbox();  // what other threads handed in before: taken in like everything else
}

void LoopCore::close_handles() noexcept {
    close();
    if (handles_ == nullptr) {
        return;
    }
    for (auto it = service_order_.rbegin(); it != service_order_.rend(); ++it) {
        (*it)->close();  // frees itself once its handles are closed
    }
    services_.clear();
    service_order_.clear();
    // The inbox is closed, so nobody new can start sending; let the ones under way finish
    // their uv_async_send before the handle is closed.
    // Acquire: pairs with each sender's release decrement, its last touch of the handle.
    while (inbox_->senders.load(std::memory_order_acquire) != 0) {
        std::this_thread::yield();
    }
    drain_inbox();  // remote cancels queued before the inbox closed: release their references
    handles_->core = nullptr;
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&handles_->idle),
                           reinterpret_cast<uv_handle_t*>(&handles_->check),
                           reinterpret_cast<uv_handle_t*>(&handles_->async)}) {
        uv_close(h, &LoopHandles::on_closed);
    }
    if (handles_->sigusr1_open) {
        uv_close(reinterpret_cast<uv_handle_t*>(&handles_->sigusr1), &LoopHandles::on_closed);
    }
    handles_ = nullptr;
    wake_armed_ = true;  // nothing may start the idle handle any more
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
    LoopCore* loop = current_loop();
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
