// Test support: a uvtask Loop running on a thread of its own, for the tests that cross threads.
#pragma once

#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

/// A thread running a `Loop` (owned) until `stop()`: a test's own `uv_async_t` keeps `uv_run`
/// blocking while the loop has nothing to do, so other threads can `post`/`spawn_on` to it.
/// `stop()` cancels every task left (kind `shutdown`), runs the loop until they have ended,
/// destroys the Loop on its own thread and joins the thread. What the loop's exception handler
/// received is in `reports()` once stopped. Doctest assertions are not thread-safe: nothing here
/// asserts on the loop's thread.
class LoopThread {
public:
    LoopThread() : thread_([this] { body(); }) {
        std::unique_lock<std::mutex> lock(mutex_);
        started_.wait(lock, [this] { return loop_ != nullptr; });
    }
    LoopThread(const LoopThread&) = delete;
    LoopThread& operator=(const LoopThread&) = delete;
    ~LoopThread() { stop(); }

    /// The loop (valid until `stop()`).
    [[nodiscard]] Loop& loop() const noexcept { return *loop_; }
    [[nodiscard]] std::thread::id id() const noexcept { return thread_.get_id(); }

    void stop() {
        if (!thread_.joinable()) {
            return;
        }
        uv_async_send(&stop_);
        thread_.join();
    }

    /// The reports of the loop's exception handler (read after `stop()`).
    [[nodiscard]] const std::vector<ExceptionContext>& reports() const noexcept { return reports_; }

private:
    void body() {
        Loop loop;
        loop.set_exception_handler([this](const ExceptionContext& c) { reports_.push_back(c); });
        uv_async_init(loop.native(), &stop_, [](uv_async_t* async) {
            uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
            static_cast<LoopThread*>(async->data)->loop_->cancel_all("stop", CancelKind::shutdown);
        });
        stop_.data = this;
        {
            std::lock_guard<std::mutex> guard(mutex_);
            loop_ = &loop;
        }
        started_.notify_all();
        while (uv_run(loop.native(), UV_RUN_DEFAULT) != 0) {
        }
        while (loop.live_tasks() > 0) {  // tasks spawned by the cancelled ones' cleanup
            loop.cancel_all("stop", CancelKind::shutdown);
            uv_run(loop.native(), UV_RUN_ONCE);
        }
    }

    std::mutex mutex_;
    std::condition_variable started_;
    Loop* loop_ = nullptr;
    uv_async_t stop_{};
    std::vector<ExceptionContext> reports_;  // loop thread until stop() joined it
    std::thread thread_;                     // last: starts once the rest is built
};

/// Keeps a loop's `uv_run` polling while it lives (as work another thread will hand in would):
/// a referenced `uv_async_t` nobody sends. Destroy it before its Loop; libuv frees the handle in
/// its close callback, on the loop's next run (the Loop's teardown runs it).
class KeepAlive {
public:
    explicit KeepAlive(Loop& loop) : async_(std::make_unique<uv_async_t>()) {
        uv_async_init(loop.native(), async_.get(), nullptr);
    }
    KeepAlive(const KeepAlive&) = delete;
    KeepAlive& operator=(const KeepAlive&) = delete;
    ~KeepAlive() {
        uv_close(reinterpret_cast<uv_handle_t*>(async_.release()), [](uv_handle_t* handle) {
            std::unique_ptr<uv_async_t> owner(reinterpret_cast<uv_async_t*>(handle));
        });
    }

private:
    std::unique_ptr<uv_async_t> async_;
};

/// Busy-waits `ns` nanoseconds: a seeded delay placing another thread's action in a loop's life.
inline void spin_for(std::uint64_t ns) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::nanoseconds(ns);
    while (std::chrono::steady_clock::now() < end) {
    }
}

/// Runs `f` when destroyed (not when moved from): a task whose frame holds one acts when the
/// frame is destroyed — with a pending task, during its loop's teardown.
class AtDestruction {
public:
    explicit AtDestruction(std::function<void()> f) : f_(std::move(f)) {}
    AtDestruction(AtDestruction&& other) noexcept : f_(std::exchange(other.f_, nullptr)) {}
    AtDestruction(const AtDestruction&) = delete;
    AtDestruction& operator=(const AtDestruction&) = delete;
    AtDestruction& operator=(AtDestruction&&) = delete;
    ~AtDestruction() {
        if (f_) {
            f_();
        }
    }

private:
    std::function<void()> f_;
};

}  // namespace uvtask::testing
