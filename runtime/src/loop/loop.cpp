// Loop: owning or adopting a uv_loop_t.
#include "uvtask/loop.hpp"

#include <uv.h>

#include "uvtask/errors.hpp"
#include "uvtask/spawn.hpp"

namespace uvtask {

namespace detail {
/// Closes every handle still open on `loop`, runs it until their close callbacks ran, and
/// closes it. Returns `uv_loop_close`'s result.
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

void LoopAccess::mark_closed(Loop& loop) noexcept { loop.owned_closed_ = true; }

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
    core_->close();  // first: a pending task's destructors must not spawn onto a dying loop
    core_->destroy_pending_tasks();
    core_->close_handles();
    if (owned_ != nullptr && !owned_closed_) {
        if (int rc = detail::close_owned_loop(owned_.get()); rc != 0) {
            core_->report({std::string("uv_loop_close: ") + uv_strerror(rc), {}, nullptr});
        }
    }
    core_.reset();
}

Loop* Loop::current() noexcept {
    detail::LoopCore* core = detail::current_loop();
    return core != nullptr ? core->owner() : nullptr;
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
