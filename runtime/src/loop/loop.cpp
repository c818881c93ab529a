// Loop: owning or adopting a uv_loop_t.
#include "uvtask/loop.hpp"

#include <uv.h>

#include <exception>
#include <string>

#include "loop/run_support.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/spawn.hpp"

namespace uvtask {

namespace detail {
int close_owned_loop(uv_loop_t* loop) noexcept {
    uv_walk(
        loop,
        [](uv_handle_t* handle, void*) {
            if (uv_is_closing(handle) == 0) {
                uv_close(handle, nullptr);
            }
        },
        nullptr);
    while (uv_run(loop, UV_RUN_DEFAULT) != 0) {
    }
    return uv_loop_close(loop);
}
LoopCore& LoopAccess::core(Loop& loop) noexcept { return *loop.core_; }

void LoopAccess::tear_down(Loop& loop) noexcept {
    LoopCore& core = *loop.core_;
    core.close();  // first: a pending task's destructors must not spawn onto a dying loop
    core.destroy_pending_tasks();
    core.close_handles();
    if (loop.owned_ != nullptr && !loop.owned_closed_) {
        if (int rc = close_owned_loop(loop.owned_.get()); rc != 0) {
            core.report({std::string("uv_loop_close: ") + uv_strerror(rc), {}, nullptr});
        }
        loop.owned_closed_ = true;
    }
    core.leave_thread();
}

namespace {
[[noreturn]] void destroyed_on_another_thread() noexcept {
    default_exception_handler(
        {"a uvtask Loop was destroyed on a thread other than its own (a Loop belongs to the "
         "thread that created it: destroy it there); calling std::terminate()",
         {},
         nullptr});
    std::terminate();
}
}  // namespace

LoopCore& loop_for_spawn_on(Loop& loop, bool task_valid) {
    LoopCore& core = LoopAccess::core(loop);
    if (core.closed()) {
        throw InvalidStateError("spawn_on(): the loop is closed");
    }
    if (!task_valid) {
        throw InvalidStateError("spawn_on(): the Task is empty (already awaited or spawned?)");
    }
    return core;
}

void abandon_spawn_on(TaskState& state) {
    // Never queued anywhere: end it here, on the caller's thread (the handle sees it cancelled).
    state.destroy_pending();
    throw InvalidStateError("spawn_on(): the loop is closed");
}

}  // namespace detail

Loop::Loop() {
    if (detail::current_loop() != nullptr) {
        throw InvalidStateError("this thread already has a uvtask Loop (one per thread)");
    }
    auto loop = std::make_unique<uv_loop_t>();
    if (int rc = uv_loop_init(loop.get()); rc != 0) {
        throw InvalidStateError(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
    try {
        core_ = std::make_unique<detail::LoopCore>(loop.get());
    } catch (...) {
        uv_loop_close(loop.get());
        throw;
    }
    owned_ = std::move(loop);
    core_->set_owner(this);
}

Loop::Loop(uv_loop_t* loop) : core_(std::make_unique<detail::LoopCore>(loop)) {
    core_->set_owner(this);
}

Loop::~Loop() {
    if (core_ == nullptr) {
        return;
    }
    const bool finished = core_->torn_down() && (owned_ == nullptr || owned_closed_);
    if (!finished && !core_->on_loop_thread()) {
        detail::destroyed_on_another_thread();
    }
    detail::LoopAccess::tear_down(*this);
    core_.reset();
}

Loop* Loop::current() noexcept {
    detail::LoopCore* core = detail::current_loop();
    if (core == nullptr) {
        return nullptr;
    }
    core->mark_exposed();
    return core->owner();
}

uv_loop_t* Loop::native() const noexcept { return core_->native(); }

void Loop::post_call(std::unique_ptr<detail::PostedCall> call) {
    if (!core_->post(std::move(call))) {
        throw InvalidStateError("Loop::post(): the loop is closed");
    }
}

std::size_t Loop::cancel_all(std::string message, CancelKind kind) {
    return core_->cancel_all(message, kind);
}

std::size_t Loop::live_tasks() const noexcept { return core_->live_tasks(); }

void Loop::set_exception_handler(ExceptionHandler handler) {
    core_->set_exception_handler(std::move(handler));
}

void Loop::set_time_slice(std::chrono::nanoseconds slice) {
    if (slice.count() < 0) {
        throw InvalidDurationError("Loop::set_time_slice: the duration is negative");
    }
    core_->set_time_slice_ns(static_cast<std::uint64_t>(slice.count()));
}

}  // namespace uvtask
