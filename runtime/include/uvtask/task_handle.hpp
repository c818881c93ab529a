// uvtask — TaskHandle<T>: a spawned, independently scheduled task (asyncio.Task).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/detail/join.hpp"
#include "uvtask/detail/spawned_task.hpp"

namespace uvtask {

template <class T>
class TaskHandle;

namespace detail {

/// The runtime's access to a handle's state (not public API).
struct HandleAccess {
    template <class T>
    [[nodiscard]] static SpawnedTask<T>* state(const TaskHandle<T>& handle) noexcept {
        return handle.state_.get();
    }
    /// A handle on `state`, taking over one handle reference the caller holds.
    template <class T>
    [[nodiscard]] static TaskHandle<T> adopt(SpawnedTask<T>* state) noexcept {
        TaskHandle<T> handle;
        handle.state_ = StateRef<SpawnedTask<T>>::adopt(state);
        return handle;
    }
    /// A new handle on `state` (one more handle reference).
    template <class T>
    [[nodiscard]] static TaskHandle<T> share(SpawnedTask<T>* state) noexcept {
        TaskHandle<T> handle;
        handle.state_ = StateRef<SpawnedTask<T>>::share(state);
        return handle;
    }
};

template <class T>
[[nodiscard]] SpawnedTask<T>* state_of(const TaskHandle<T>& handle) noexcept {
    return HandleAccess::state(handle);
}

}  // namespace detail

/// A spawned task (asyncio.Task), returned by `spawn`. Copyable and ref-counted; copying and
/// destroying a handle is safe from any thread, and so is `cancel()`; everything else belongs to
/// the thread of the task's loop. Dropping every handle does not cancel the task; a failure that
/// nobody retrieved is reported through the loop's exception handler when the last handle goes.
template <class T = void>
class TaskHandle {
public:
    using value_type = T;

    /// An empty handle: every operation but `valid()` throws `InvalidStateError`.
    TaskHandle() noexcept = default;

    /// Asks the task to stop (docs/semantics.md §3.1): if it is not done, adds one to `cancelling()`,
    /// records `message` (the latest wins) and returns true; the task receives
    /// `CancelledError(message)` at its next suspension point, at once if it is suspended now.
    /// On a done task returns false and changes nothing. Safe from any thread (§3.10): off the
    /// loop's thread the request flag is set at once and the loop is woken.
    bool cancel(std::string message = {}, CancelKind kind = CancelKind::user) const {
        return state().request_cancel(std::move(message), kind);
    }
    /// How many cancel requests are outstanding (not withdrawn by `uncancel()`).
    [[nodiscard]] int cancelling() const { return state().cancelling(); }
    /// Withdraws one cancel request; when the count reaches 0, a request not yet delivered is
    /// dropped (asyncio 3.13). Returns the new count.
    int uncancel() const { return state().uncancel(); }
    /// True once the task has ended: returned, failed or cancelled.
    [[nodiscard]] bool done() const { return state().done(); }
    /// True if the task ended because `CancelledError` escaped its body (or it was cancelled
    /// before it first ran). A task that caught the error and returned is not cancelled.
    [[nodiscard]] bool cancelled() const {
        return state().done() && state().ending() == detail::Ending::cancelled;
    }
    /// The result. Rethrows the task's exception, `CancelledError` if it ended cancelled,
    /// `InvalidStateError` if it is not done.
    decltype(auto) result() const { return state().value_or_throw(); }
    /// The task's exception (null if it returned a value). Throws `CancelledError` if it ended
    /// cancelled, `InvalidStateError` if it is not done.
    [[nodiscard]] std::exception_ptr exception() const {
        auto& s = state();
        if (!s.done()) {
            throw InvalidStateError("task '" + s.name() + "' is not done yet");
        }
        if (s.ending() == detail::Ending::cancelled) {
            s.throw_cancelled_ending();
        }
        return s.ending() == detail::Ending::failed ? s.take_exception() : nullptr;
    }
    /// The task's name (given to `spawn`, or "Task-N").
    [[nodiscard]] std::string name() const { return state().name(); }
    /// Calls `callback(handle)` on the loop's thread when the task is done — at once if it is
    /// done already — exactly once. Callbacks run synchronously as the task ends (after its
    /// joiners were woken, before they resume), not on a later loop turn as in asyncio. An
    /// exception from the callback goes to the loop's exception handler; the other callbacks
    /// still run. A task destroyed while pending (its Loop destroyed, or `run()`'s grace
    /// period over) drops its callbacks without calling them.
    template <class Callback>
        requires std::invocable<Callback&, const TaskHandle&>
    void add_done_callback(Callback callback) const {
        // The callback lives in the task's state, which outlives it: it holds no handle (a
        // handle would count as someone who could still cancel the task, see run()), and
        // gets one when it is called.
        detail::SpawnedTask<T>* self = &state();
        self->add_done_callback([self, callback = std::move(callback)]() mutable {
            callback(detail::HandleAccess::share(self));
        });
    }
    /// True unless default-constructed.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }

    /// Waits for the task to end: its result (a copy; moved out for a move-only `T`), its
    /// exception rethrown, or `CancelledError` if it ended cancelled. A suspension point; if the
    /// waiting task is cancelled meanwhile, the cancel is passed on to this task (asyncio) and
    /// the waiter goes on waiting for its end — use `shield(handle)` to stop that. Tasks awaiting
    /// each other in a cycle wait forever (like any deadlock), but a cancel of one of them ends
    /// them all with `CancelledError`: the request passes round the cycle once, then the task
    /// it came back to stops waiting.
    ///
    /// The task may belong to another loop (another thread's, or one that has ended): the
    /// result, exception or `CancelledError` is delivered on the waiting task's own loop thread,
    /// and a cancel of the waiter is passed on across loops the same way (docs/semantics.md
    /// §3.6). A handle whose loop has ended is done: its ending is returned at once.
    ///
    /// Completes when: the task has ended (at once if it has already).
    /// Suspension point: yes.
    /// On cancel: passed on to this task; the waiter keeps waiting for its end.
    /// Throws: what the task threw; `CancelledError`; `InvalidStateError` for an empty handle, a
    /// task awaiting itself, or outside a task.
    /// Thread safety: in a task of any loop.
    [[nodiscard]] detail::JoinAwaiter<T, detail::JoinMode::propagate> operator co_await()
        const noexcept {
        return detail::JoinAwaiter<T, detail::JoinMode::propagate>{state_.get()};
    }

    friend bool operator==(const TaskHandle& a, const TaskHandle& b) noexcept {
        return a.state_.get() == b.state_.get();
    }

private:
    friend struct detail::HandleAccess;
    detail::SpawnedTask<T>& state() const {
        if (!state_) {
            throw InvalidStateError("operation on an empty TaskHandle");
        }
        return *state_.get();
    }
    detail::StateRef<detail::SpawnedTask<T>> state_;
};

namespace detail {
/// True for `TaskHandle<T>` (whatever its `T`).
template <class A>
inline constexpr bool is_task_handle_v = false;
template <class T>
inline constexpr bool is_task_handle_v<TaskHandle<T>> = true;
/// A `Task<T>` or a `TaskHandle<T>`, after removing references and cv-qualifiers.
template <class A>
concept TaskOrHandle = TaskType<A> || is_task_handle_v<std::remove_cvref_t<A>>;
}  // namespace detail

}  // namespace uvtask
