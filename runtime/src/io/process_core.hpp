// The shared state behind a Process: the child's libuv handles (process, grace timer), its
// waiters, and its termination.
#pragma once

#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>

#include "uvtask/process.hpp"

namespace uvtask::detail {

class ProcessService;

/// The child's libuv handles (process, grace timer) and what waiters need. Reference-counted:
/// the Process, each wait awaiter, and libuv while either handle is open. Linked in its loop's
/// ProcessService from a successful spawn until the child has exited.
class ProcessCore : public ListHook<ProcessCore> {
public:
    explicit ProcessCore(const ProcessOptions& options) noexcept
        : terminate_signal_(options.terminate_signal), grace_(options.grace_period) {}

    void retain() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            std::unique_ptr<ProcessCore> owned(this);
        }
    }

    /// uv_timer_init; from here libuv holds a reference until both handles are closed.
    [[nodiscard]] int init_timer(uv_loop_t* loop) noexcept {
        const int rc = uv_timer_init(loop, &timer_);
        if (rc == 0) {
            timer_.data = this;
            ++open_handles_;
            retain();
        }
        return rc;
    }

    [[nodiscard]] int spawn(uv_loop_t* loop, uv_process_options_t& options) noexcept {
        options.exit_cb = &ProcessCore::on_exit;
        process_.data = this;
        const int rc = uv_spawn(loop, &process_, &options);
        // uv_spawn initialises the handle even when it fails: it is closed either way.
        process_.data = this;
        ++open_handles_;
        if (rc < 0) {
            exited_ = true;
            close_handles();
        } else {
            pid_ = process_.pid;
        }
        return rc;
    }

    /// Terminate signal now, SIGKILL after the grace period (once).
    void terminate() noexcept {
        if (exited_ || terminating_ || pid_ == 0) {
            return;  // (pid 0: never spawned — kill(0, …) would signal our own process group)
        }
        terminating_ = true;
        terminate_sent_ns_ = monotonic_ns();
        uv_process_kill(&process_, terminate_signal_);
        const auto grace = static_cast<std::uint64_t>(std::max<std::int64_t>(0, grace_.count()));
        uv_timer_start(
            &timer_,
            [](uv_timer_t* timer) noexcept {
                auto* self = static_cast<ProcessCore*>(timer->data);
                if (!self->exited_) {
                    uv_process_kill(&self->process_, SIGKILL);
                }
            },
            grace, 0);
    }

    [[nodiscard]] int kill(int signum) noexcept {
        return exited_ || pid_ == 0 ? UV_ESRCH : uv_process_kill(&process_, signum);
    }

    /// The loop tears down with the child still running: finishes its termination here and
    /// now — the terminate signal (if not sent yet), what is left of the grace period, then
    /// SIGKILL — and reaps it (no zombie). Blocks the teardown meanwhile.
    void reap_at_teardown(LoopCore& loop) noexcept;

    void set_service(ProcessService* service) noexcept { service_ = service; }

    [[nodiscard]] bool exited() const noexcept { return exited_; }
    [[nodiscard]] const ExitStatus& status() const noexcept { return status_; }
    [[nodiscard]] int pid() const noexcept { return pid_; }

    void enqueue(ProcessWaitAwaiter* waiter) noexcept {
        waiter->next = nullptr;
        waiter->prev = tail_;
        (tail_ != nullptr ? tail_->next : head_) = waiter;
        tail_ = waiter;
        waiter->linked = true;
    }
    void remove(ProcessWaitAwaiter* waiter) noexcept {
        if (!waiter->linked) {
            return;
        }
        (waiter->prev != nullptr ? waiter->prev->next : head_) = waiter->next;
        (waiter->next != nullptr ? waiter->next->prev : tail_) = waiter->prev;
        waiter->prev = waiter->next = nullptr;
        waiter->linked = false;
    }

private:
    static void on_exit(uv_process_t* process, std::int64_t exit_status, int term_signal) noexcept;
    void exited_with(ExitStatus status) noexcept {
        exited_ = true;
        status_ = status;
        close_handles();
        while (ProcessWaitAwaiter* waiter = head_) {
            remove(waiter);
            waiter->on_exit();
        }
    }

    void close_handles() noexcept {
        uv_timer_stop(&timer_);
        for (uv_handle_t* handle :
             {reinterpret_cast<uv_handle_t*>(&process_), reinterpret_cast<uv_handle_t*>(&timer_)}) {
            if (handle->loop != nullptr && uv_is_closing(handle) == 0) {
                uv_close(handle, [](uv_handle_t* h) noexcept {
                    auto* self = static_cast<ProcessCore*>(h->data);
                    if (--self->open_handles_ == 0) {
                        self->release();  // libuv's
                    }
                });
            }
        }
    }

    uv_process_t process_{};
    uv_timer_t timer_{};
    int refs_ = 1;
    int open_handles_ = 0;
    int pid_ = 0;
    int terminate_signal_;
    std::chrono::milliseconds grace_;
    std::uint64_t terminate_sent_ns_ = 0;
    ProcessService* service_ = nullptr;  // while linked in it
    bool exited_ = false;
    bool terminating_ = false;
    ExitStatus status_{};
    ProcessWaitAwaiter* head_ = nullptr;
    ProcessWaitAwaiter* tail_ = nullptr;
};

}  // namespace uvtask::detail
