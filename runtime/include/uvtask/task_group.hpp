// uvtask — TaskGroup: structured concurrency; no child outlives the group (asyncio.TaskGroup).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "uvtask/errors.hpp"
#include "uvtask/exception_group.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/cancel_scope.hpp"
#include "uvtask/detail/child_set.hpp"
#include "uvtask/detail/settle.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask {

class TaskGroup;

namespace detail {

template <class F, class... Args>
using GroupBodyResult = std::invoke_result_t<F&, TaskGroup&, Args&...>;

/// A Task that throws `error` when awaited (a body callable that threw before returning a Task).
template <class T>
Task<T> failed_task(std::exception_ptr error) {
    co_await std::suspend_never{};
    std::rethrow_exception(error);
}

template <class F, class... Args>
Task<typename GroupBodyResult<F, Args...>::value_type> run_task_group(F body, Args... args);

}  // namespace detail

/// The children of a `task_group` body: spawn into it, and the group's end waits for them all.
/// Made only by `task_group`, which passes it to the body by reference; it lives in the
/// group's coroutine frame and dies when `task_group` completes, so do not keep the reference
/// beyond it. Not copyable. Loop thread only.
///
/// Semantics (asyncio.TaskGroup, docs/semantics.md §4), each decided here:
/// - **No child outlives the group**: `task_group` completes only once every child has ended.
/// - **A failing child cancels the rest**: the first child that ends with an exception other
///   than `CancelledError` cancels every other child and the body (kind `parent`, at their next
///   suspension points). Once all have ended, the group throws an `ExceptionGroup` holding every
///   failure — of the children, in the order they happened, and of the body, last. A child that
///   ends cancelled is not a failure.
/// - **The body failing** (an exception other than `CancelledError`) cancels the children too and
///   ends up in the `ExceptionGroup`.
/// - **An outer cancel** (of the task running the group) reaches the body at its suspension
///   points; when the `CancelledError` leaves the body, or when the cancel arrives while the group
///   waits for its children, every child is cancelled (with the outer request's message and kind)
///   and awaited, then the group throws `CancelledError`. If children also failed, the
///   `ExceptionGroup` is thrown instead (asyncio): a request the body already received counts as
///   delivered — one delivery per request, docs/semantics.md §3.4 — and is not thrown again
///   later; `cancelling()` stays raised, so an enclosing deadline or group still sees it. A
///   request that arrived while the group waited for its children (never delivered) stays
///   pending and reaches the task's next suspension point.
/// - A `CancelledError` that leaves the body without being a request to the task running the
///   group (the body awaited a task somebody else cancelled) cancels the children with kind
///   `parent` and the message "task group: the body ended with CancelledError" — never with a
///   stale message or kind of the running task.
/// - **No child outlives the group**, even one spawned into it while the last child ends (from
///   its done callback): the group waits again until none is left.
/// - The group's own cancellation of the body is withdrawn at the end (`uncancel()` bookkeeping,
///   like a deadline): it never leaks out as a `CancelledError` or a stray pending request, and
///   it never hides an outer cancel that arrived meanwhile.
/// - A body that catches the `CancelledError` and returns (refusing) keeps its children running;
///   the group still waits for them.
class TaskGroup {
public:
    TaskGroup(const TaskGroup&) = delete;
    TaskGroup& operator=(const TaskGroup&) = delete;

    /// Spawns `task` as a child and returns its handle; awaiting the handle in the body is
    /// allowed (a failure is then seen there and still counted by the group).
    ///
    /// Completes when: at once; the child's body starts on a later loop tick, like `spawn`.
    /// Suspension point: no.
    /// On cancel: not cancellable itself; the group cancels the child when it shuts down.
    /// Throws: `InvalidStateError` once the group is shutting down (a child failed, or it was
    /// cancelled) or has ended; what `spawn` throws (`InvalidStateError` for an empty Task,
    /// `std::bad_alloc`). Out of memory watching the child: the child is cancelled and
    /// `std::bad_alloc` is thrown.
    /// Thread safety: the loop's thread.
    template <class T>
    TaskHandle<T> spawn(Task<T> task, std::string name = {}) {
        check_can_spawn();
        TaskHandle<T> handle = uvtask::spawn(std::move(task), std::move(name));
        adopt(*detail::state_of(handle));
        return handle;
    }
    /// Spawns `callable(args…)` as a child, the callable and the arguments kept alive until the
    /// child ends (see `uvtask::spawn(callable, args…)`: the safe form for a capturing lambda that
    /// is a coroutine). Same rules and errors as `spawn(task)`.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: as `spawn(task)`.
    /// Throws: `InvalidStateError` once the group is shutting down or has ended; what `spawn`
    /// throws. Thread safety: the loop's thread.
    template <class F, class... Args>
        requires detail::TaskFactory<F, Args...>
    TaskHandle<detail::factory_value_t<F, Args...>> spawn(F&& callable, Args&&... args) {
        return spawn(detail::call_owning(std::decay_t<F>(std::forward<F>(callable)),
                                         std::decay_t<Args>(std::forward<Args>(args))...));
    }
    /// Children that have not ended yet.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] std::size_t size() const noexcept { return children_.live(); }
    /// True once the group cancels its children (a child or the body failed, or it was
    /// cancelled); `spawn` then throws.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] bool shutting_down() const noexcept { return children_.cancelling_children(); }

private:
    template <class F, class... Args>
    friend Task<typename detail::GroupBodyResult<F, Args...>::value_type> detail::run_task_group(
        F body, Args... args);

    TaskGroup() noexcept : children_(&on_child_done, this, "task group") {}
    void enter(const char* operation);
    void check_can_spawn() const;
    void adopt(detail::TaskState& child);
    static void on_child_done(void* self, detail::TaskState& child, std::size_t index,
                              bool cancelled_by_group) noexcept;
    void body_ended(const detail::SettledEnding& body) noexcept;
    /// After the children ended: the ExceptionGroup or the CancelledError the group ends with
    /// (passed on without a throw, docs/zero-exception.md), or nothing.
    [[nodiscard]] std::optional<detail::Propagation> conclude(
        const detail::SettledEnding& body) noexcept;
    [[nodiscard]] detail::AllDoneAwaiter wait_children() noexcept { return children_.wait_all(); }

    detail::ChildSet children_;
    detail::TaskState* parent_ = nullptr;  // the task the group runs in
    detail::CancelScope scope_;            // our cancel of the body when a child failed
    std::vector<std::exception_ptr> errors_;
    std::uint32_t deliveries_at_entry_ = 0;  // the parent's deliveries() when the body started
    bool body_running_ = false;
    bool ended_ = false;
    bool propagate_cancel_ = false;  // the body's CancelledError is someone else's
};

namespace detail {

template <class F, class... Args>
Task<typename GroupBodyResult<F, Args...>::value_type> run_task_group(F body, Args... args) {
    using V = typename GroupBodyResult<F, Args...>::value_type;
    TaskGroup group;
    group.enter("task_group()");
    Task<V> work;
    try {
        work = std::invoke(body, group, args...);
    } catch (...) {
        work = failed_task<V>(std::current_exception());
    }
    Settled<V> outcome = co_await settle(std::move(work));
    group.body_ended(outcome);
    // Until no child is left: a child may be spawned into the group while the last one ends
    // (from its done callback), after the wait was woken (asyncio re-checks after every wake-up).
    do {
        co_await group.wait_children();
    } while (group.size() > 0);
    std::optional<Propagation> ending = group.conclude(outcome);
    if (ending) {
        co_yield std::move(*ending);
    }
    if (outcome.failed()) {
        co_yield std::move(outcome).ending();
    }
    if constexpr (std::is_void_v<V>) {
        co_return;
    } else {
        co_return std::move(*outcome.value);
    }
}

}  // namespace detail

/// Runs `body(group, args...)` — a callable returning a `Task` — inline in the current task with a
/// fresh `TaskGroup`, then waits for every child spawned into the group; returns the body's result
/// or throws as described at `TaskGroup` (`ExceptionGroup`, `CancelledError`).
///
/// Completes when: the body has ended and every child has ended (children spawned while the
/// last one ends included).
/// Suspension point: yes (the body's, then the wait for the children).
/// On cancel: as described at `TaskGroup`: the body sees it, every child is cancelled and
/// awaited, then `CancelledError` (or the `ExceptionGroup`, if children failed) is thrown.
/// Throws: `ExceptionGroup` of every failure; `CancelledError`; `InvalidStateError` outside a
/// task (when awaited); an exception `body(…)` throws before returning its Task counts as the
/// body failing; `std::bad_alloc`.
/// Thread safety: loop thread only (await it in a task).
///
/// ```
/// auto body = [&](TaskGroup& group) -> Task<void> {
///     group.spawn(fetch(a));
///     group.spawn(fetch(b));
///     co_return;
/// };
/// co_await task_group(body);
/// ```
///
/// Lifetimes: `body` and `args` are copied into the group's coroutine frame and stay alive until
/// the group has ended, so a capturing lambda that is itself a coroutine is safe here (its
/// captures live in the copy); what it captures by reference must outlive the `co_await`. GCC 12:
/// build the lambda in its own statement, not inside the `co_await` expression.
template <class F, class... Args>
    requires std::invocable<F&, TaskGroup&, Args&...> &&
             detail::TaskType<detail::GroupBodyResult<F, Args...>>
[[nodiscard]] Task<typename detail::GroupBodyResult<F, Args...>::value_type> task_group(
    F body, Args... args) {
    return detail::run_task_group(std::move(body), std::move(args)...);
}

}  // namespace uvtask
