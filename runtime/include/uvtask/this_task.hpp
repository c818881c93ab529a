// uvtask — this_task: what the running task can ask about itself from code that cannot suspend.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <concepts>
#include <exception>
#include <stop_token>
#include <string>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/task_host.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask {

namespace detail {

/// What `this_task::on_cancel` returns: while it lives, `f` is registered with the task that
/// created it. Neither copyable nor movable (it is linked into the task's list). Construct and
/// destroy it on the task's loop thread, in that task; destroying it throws nothing.
template <class F>
class [[nodiscard]] CancelCallback : private CancelCallbackNode {
public:
    explicit CancelCallback(F f) : f_(std::move(f)), task_(current_task()) {
        if (task_ == nullptr) {
            throw_outside_task("this_task::on_cancel()");
        }
        run = &invoke;
        task_->add_cancel_callback(this);
    }
    CancelCallback(const CancelCallback&) = delete;
    CancelCallback& operator=(const CancelCallback&) = delete;
    ~CancelCallback() { task_->remove_cancel_callback(this); }

private:
    static void invoke(CancelCallbackNode* node) noexcept {
        auto* self = static_cast<CancelCallback*>(node);
        try {
            self->f_();
        } catch (...) {
            self->task_->report_error("exception in a this_task::on_cancel callback",
                                      std::current_exception());
        }
    }

    F f_;
    TaskState* task_;
};

}  // namespace detail

namespace this_task {

/// Registers `f` to run when the current task is cancelled, for as long as the returned object
/// lives (RAII): the hook a wrapper of another library uses to stop it (cancel an HTTP request,
/// interrupt a query). `f()` runs once, on the loop's thread — unlike a `std::stop_callback` on
/// `stop_token()`, which runs on the canceller's thread — as soon as a cancel request reaches
/// the task (at `cancel()` on the loop's thread; after the wake-up for a `cancel()` from another
/// thread), before the awaitable the task waits in is interrupted. If a request is already
/// pending when `on_cancel` is called, `f()` runs at once, inside the call. A request held back
/// by `non_cancellable` still runs it (it says a request arrived, not that it is delivered).
///
/// Completes when: at once.
/// Suspension point: no.
/// On cancel: see above; `f` is not called again for later requests (register anew).
/// Throws: `InvalidStateError` outside a task; what copying `f` throws. An exception from `f()`
/// goes to the loop's exception handler.
/// Thread safety: the task's loop thread; destroy the returned object on it, in the same task.
template <class F>
    requires std::invocable<std::decay_t<F>&> && std::move_constructible<std::decay_t<F>>
[[nodiscard]] detail::CancelCallback<std::decay_t<F>> on_cancel(F&& f) {
    return detail::CancelCallback<std::decay_t<F>>(std::forward<F>(f));
}

/// True if the current task has a cancel request not yet delivered (docs/semantics.md §3.9): for a
/// callback, a loop that cannot suspend, or a legacy library to poll. False outside a task.
/// Does not consume the request; true also while `non_cancellable` holds the request back.
///
/// At once; not a suspension point; throws nothing; loop thread only (the current task's).
[[nodiscard]] bool cancel_requested() noexcept;

/// A `std::stop_token` of the current task, stop-requested when the task is cancelled (also from
/// another thread, and also when obtained after the request). Once requested it stays
/// requested, even if the task refuses the cancel or calls `uncancel()`: a stop token cannot be
/// reset. Hand it to thread-pool work or legacy code; a `std::stop_callback` on it runs inside
/// `cancel()`, on the thread that called it.
///
/// Completes when: at once. Suspension point: no. On cancel: not cancellable.
/// Throws: `InvalidStateError` outside a task; `std::bad_alloc` (the first call allocates the
/// stop source).
/// Thread safety: call it on the loop thread, in the task; the token itself may be used on any
/// thread.
[[nodiscard]] std::stop_token stop_token();

/// The current task's `cancelling()` count (requests not withdrawn by `uncancel()`).
/// At once; not a suspension point; throws `InvalidStateError` outside a task; loop thread only.
[[nodiscard]] int cancelling();

/// Withdraws one of the current task's cancel requests (`TaskHandle::uncancel`) and returns the
/// new count, never below 0; reaching 0 clears the pending request.
/// At once; not a suspension point; throws `InvalidStateError` outside a task; loop thread only.
int uncancel();

/// The current task's name (a copy).
/// At once; not a suspension point; throws `InvalidStateError` outside a task, `std::bad_alloc`;
/// loop thread only.
[[nodiscard]] std::string name();

}  // namespace this_task
}  // namespace uvtask
