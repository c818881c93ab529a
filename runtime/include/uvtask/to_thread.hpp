// uvtask — to_thread(f): run a blocking function on libuv's thread pool (uv_queue_work) and
// await its result; a cancel requests stop on the function's std::stop_token.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/detail/end_watch.hpp"
#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

namespace detail {

[[nodiscard]] bool current_exception_is_cancel() noexcept;
class ToThreadAwaiterBase;

/// The heap part of a `to_thread` call: the request, the function, its result. Owned by the
/// awaiter, except between `uv_queue_work` and the after-work callback, when libuv owns it.
class WorkItem {
public:
    WorkItem() noexcept = default;
    WorkItem(const WorkItem&) = delete;
    WorkItem& operator=(const WorkItem&) = delete;
    virtual ~WorkItem() = default;

    /// On a pool thread: calls the function, stores its result or exception, then marks the
    /// item finished (the function touches nothing of ours afterwards).
    void execute() noexcept {
        // Relaxed: read only to tell the age of a job that blocks teardown, in a report.
        started_ns.store(monotonic_ns(), std::memory_order_relaxed);
        try {
            invoke();
        } catch (...) {
            error = std::current_exception();
            error_is_cancel = current_exception_is_cancel();
        }
        finished.store(true, std::memory_order_release);
        finished.notify_all();
    }

    uv_work_t req{};
    ToThreadAwaiterBase* waiter = nullptr;  // null once the awaiter is gone
    std::stop_source stop;
    std::atomic<bool> finished{false};
    std::atomic<std::uint64_t> started_ns{0};  // when a pool thread began it (monotonic_ns())
    std::exception_ptr error;
    bool error_is_cancel = false;

protected:
    virtual void invoke() = 0;
};

template <class F, class R>
class Work final : public WorkItem {
public:
    explicit Work(F f) : f_(std::move(f)) {}

    R take() {
        if constexpr (!std::is_void_v<R>) {
            return std::move(*result_);
        }
    }

private:
    void invoke() override {
        if constexpr (std::is_invocable_v<F&, std::stop_token>) {
            if constexpr (std::is_void_v<R>) {
                f_(stop.get_token());
            } else {
                result_.emplace(f_(stop.get_token()));
            }
        } else {
            if constexpr (std::is_void_v<R>) {
                f_();
            } else {
                result_.emplace(f_());
            }
        }
    }

    F f_;
    std::conditional_t<std::is_void_v<R>, bool, std::optional<R>> result_{};
};

class ToThreadAwaiterBase : public IoAwaiter, private EndWatch {
public:
    explicit ToThreadAwaiterBase(std::unique_ptr<WorkItem> work) noexcept;
    ~ToThreadAwaiterBase();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    /// The after-work callback hands the item back.
    void on_after_work(WorkItem* work, int status) noexcept;

protected:
    /// `finish`, then rethrows the function's exception (a `CancelledError` thrown by the
    /// function, after a cancel, counts as the delivery of that cancel). Returns the item.
    WorkItem& resume_work();

private:
    static void on_cancel(Suspension* self) noexcept;
    // Watched by the loop once cancelled while running: completes the await as soon as the
    // function has returned, before libuv's after-work callback (which still owns the request).
    static bool check_end(EndWatch* self) noexcept;
    // The frame is destroyed while `work` runs: blocks until it returns, reporting it through
    // the loop's exception handler while it blocks (see `to_thread`).
    void wait_out(WorkItem& work) noexcept;
    std::unique_ptr<WorkItem> work_;  // ours, except while queued/running
    WorkItem* in_flight_ = nullptr;   // libuv's until its after-work callback
    bool ended_early_ = false;        // completed by check_end; libuv may still hold the item
};

template <class F, class R>
class ToThreadAwaiter : public ToThreadAwaiterBase {
public:
    explicit ToThreadAwaiter(F f)
        : ToThreadAwaiterBase(std::make_unique<Work<F, R>>(std::move(f))) {}
    R await_resume() { return static_cast<Work<F, R>&>(resume_work()).take(); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

template <class F>
struct ToThreadResult {
    using type = std::invoke_result_t<F&>;
};
template <class F>
requires std::is_invocable_v<F&, std::stop_token>
struct ToThreadResult<F> {
    using type = std::invoke_result_t<F&, std::stop_token>;
};

}  // namespace detail

/// A function `to_thread` accepts: callable with a `std::stop_token`, or with nothing, and move
/// constructible. (A concept: nothing runs.)
template <class F>
concept ThreadFunction = std::move_constructible<std::decay_t<F>> &&
    (std::is_invocable_v<std::decay_t<F>&, std::stop_token> ||
     std::is_invocable_v<std::decay_t<F>&>);

/// Runs `f` (moved into the request) on libuv's thread pool (`uv_queue_work`) and returns its
/// result, or rethrows its exception. If `f` takes a `std::stop_token`, it is given one.
/// `f` runs on another thread: it must not touch the loop or the task's objects unsynchronised.
///
/// Completes when: `f` has returned and libuv is done with the request.
/// Suspension point: yes.
/// On cancel:
/// - a pending cancel when it starts: `CancelledError`, `f` never runs;
/// - cancelled while `f` waits for a pool thread: the work is `uv_cancel`led, `f` never runs,
///   `CancelledError`;
/// - cancelled while `f` runs: stop is requested on its `std::stop_token` and the task waits
///   for `f` to return (libuv cannot stop a running thread, and `f` may use the task's memory).
///   Then atomic completion: `f`'s result is delivered (or its exception rethrown) and the
///   cancel waits for the next suspension point — unless `f` threw `CancelledError`, which is
///   then the delivery of the cancel (thrown once, request consumed). While it waits for such
///   a job, the loop checks for the job's end right before each poll and, for up to 20 µs after
///   the cancel, spins for it instead of blocking (only when no other task is ready), so a job
///   that honours its stop token at once is taken up without a thread wake-up.
/// The awaiting task never resumes before `f` has returned and libuv is done with the request.
///
/// A job that never returns: if the task frame is destroyed while `f` runs (loop teardown,
/// e.g. `run()` after its shutdown grace), the destructor requests stop and blocks until `f`
/// returns — libuv cannot abandon a running job, and `f` may use the frame's memory. That wait
/// is never silent: once it has lasted 100 ms, and then every second while it lasts, the job is
/// reported through the loop's exception handler (`ExceptionContext::task_name` the task's
/// name; the message names the task and says how long the job has run, e.g. "to_thread job of
/// task 'worker' has run for 6.1 s and blocks the loop's teardown (stop requested; waiting for
/// it to return)"). A handler may use the report to unblock the job.
///
/// Throws: what `f` throws; `CancelledError`; `IoError` if libuv cannot queue the work;
/// `InvalidStateError` outside a task; at the call (not the `co_await`), `std::bad_alloc` and
/// what moving `f` throws.
/// Thread safety: loop thread only (`f` itself runs on a pool thread).
template <ThreadFunction F>
[[nodiscard]] auto to_thread(F&& f) {
    using Fn = std::decay_t<F>;
    using R = typename detail::ToThreadResult<Fn>::type;
    return detail::ToThreadAwaiter<Fn, R>{Fn(std::forward<F>(f))};
}

}  // namespace uvtask
