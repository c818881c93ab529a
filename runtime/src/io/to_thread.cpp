// to_thread(): uv_queue_work with a heap work item; cancel = request stop, then uv_cancel.
#include "uvtask/to_thread.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr WaitInfo to_thread_wait{"to_thread() job"};
}  // namespace

ToThreadAwaiterBase::ToThreadAwaiterBase(std::unique_ptr<WorkItem> work) noexcept
    : work_(std::move(work)) {}

namespace {
// How long the loop may spin, after a cancel, for a running job to return (see EndWatch).
constexpr std::uint64_t end_spin_ns = 20'000;
// A job blocking teardown is reported once it has blocked it this long, then every period.
constexpr std::uint64_t first_report_ns = 100'000'000;
constexpr std::uint64_t report_period_ns = 1'000'000'000;
}  // namespace

ToThreadAwaiterBase::~ToThreadAwaiterBase() {
    if (EndWatch::linked()) {
        unwatch_end(loop(), this);
    }
    if (WorkItem* work = in_flight_) {
        // The frame is destroyed while the work is queued or running (loop teardown).
        work->waiter = nullptr;  // the after-work callback frees the item
        work->stop.request_stop();
        if (uv_cancel(reinterpret_cast<uv_req_t*>(&work->req)) != 0) {
            // Running: the function may use memory of this frame. Wait for it to return.
            wait_out(*work);
        }
    }
}

void ToThreadAwaiterBase::wait_out(WorkItem& work) noexcept {
    const std::uint64_t since = monotonic_ns();
    std::uint64_t next_report = since + first_report_ns;
    auto nap = std::chrono::microseconds(20);
    // Acquire: pairs with the release in `execute`; nothing of the job runs after that store.
    while (!work.finished.load(std::memory_order_acquire)) {
        const std::uint64_t now = monotonic_ns();
        if (now >= next_report) {
            next_report = now + report_period_ns;
            const std::uint64_t started = work.started_ns.load(std::memory_order_relaxed);
            const double age_s =
                static_cast<double>(now - (started != 0 && started < now ? started : since)) / 1e9;
            try {
                const std::string name = task_->name();
                char age[32];
                std::snprintf(age, sizeof age, "%.1f s", age_s);
                loop().report({"to_thread job of task '" + name + "' has run for " + age +
                                   " and blocks the loop's teardown (stop requested; waiting for "
                                   "it to return)",
                               name, nullptr});
            } catch (...) {
                // Out of memory for the report's text: keep waiting, report next time.
            }
        }
        std::this_thread::sleep_for(nap);  // teardown only: polling keeps the fast path free
        nap = std::min(nap * 2, std::chrono::microseconds(1000));
    }
}

bool ToThreadAwaiterBase::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    WorkItem* work = work_.get();
    work->req.data = work;
    const int rc = uv_queue_work(
        loop().native(), &work->req,
        [](uv_work_t* req) noexcept { static_cast<WorkItem*>(req->data)->execute(); },
        [](uv_work_t* req, int status) noexcept {
            auto* item = static_cast<WorkItem*>(req->data);
            if (item->waiter != nullptr) {
                item->waiter->on_after_work(item, status);
            } else {
                std::unique_ptr<WorkItem> owned(item);  // its task is gone
            }
        });
    if (rc < 0) {
        return done_now(rc);
    }
    work->waiter = this;
    in_flight_ = work_.release();
    park(resume_at, &on_cancel, to_thread_wait);
    return true;
}

void ToThreadAwaiterBase::on_after_work(WorkItem* work, int status) noexcept {
    work_.reset(work);
    in_flight_ = nullptr;
    if (ended_early_) {
        return;  // check_end already completed the await with the function's outcome
    }
    if (EndWatch::linked()) {
        unwatch_end(loop(), this);
    }
    if (status == UV_ECANCELED && cancel_seen_) {
        complete_cancelled();
    } else {
        complete(status);
    }
}

void ToThreadAwaiterBase::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<ToThreadAwaiterBase*>(self);
    if (awaiter->cancel_seen_) {
        return;
    }
    awaiter->cancel_seen_ = true;
    WorkItem* work = awaiter->in_flight_;
    // Stop first: if the work starts between the two calls, it sees the request at once.
    work->stop.request_stop();
    // Succeeds only while the work waits for a pool thread (the after-work callback then gets
    // UV_ECANCELED); otherwise the function runs to its end and its outcome is delivered.
    if (uv_cancel(reinterpret_cast<uv_req_t*>(&work->req)) != 0) {
        awaiter->EndWatch::poll_end = &ToThreadAwaiterBase::check_end;
        watch_end(awaiter->loop(), awaiter, end_spin_ns);
    }
}

bool ToThreadAwaiterBase::check_end(EndWatch* self) noexcept {
    auto* awaiter = static_cast<ToThreadAwaiterBase*>(self);
    WorkItem* work = awaiter->in_flight_;
    // The function has returned and stored its outcome (release in `execute`); the pool thread
    // touches only libuv's request from here on, and the item lives until the after-work
    // callback, so the result can be taken now.
    if (work == nullptr || !work->finished.load(std::memory_order_acquire)) {
        return false;
    }
    awaiter->ended_early_ = true;
    awaiter->complete(0);
    return true;
}

WorkItem& ToThreadAwaiterBase::resume_work() {
    finish("to_thread()");
    if (result_ < 0) {
        throw_io_error(result_, "to_thread");
    }
    // After an early end libuv may still hold the item (`in_flight_`): it stays alive until
    // the after-work callback or, if this awaiter goes first, is freed by that callback.
    WorkItem& work = work_ ? *work_ : *in_flight_;
    if (work.error) {
        if (work.error_is_cancel && task_->cancel_requested()) {
            throw task_->take_cancel();  // the function honoured our cancel: that is its delivery
        }
        std::rethrow_exception(work.error);
    }
    return work;
}

}  // namespace uvtask::detail
