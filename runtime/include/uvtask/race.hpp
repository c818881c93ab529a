// uvtask — race(): the first task to finish wins; the others are cancelled and awaited.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "uvtask/errors.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/join_scope.hpp"

namespace uvtask {

namespace detail {

/// How the race ends: the winner's ending (or the last cancelled task's), as an Outcome.
template <class T>
Outcome<T> race_result(const std::vector<TaskHandle<T>>& handles, std::size_t winner) noexcept {
    try {
        if (winner == JoinScope::none) {
            return Outcome<T>::failed(
                std::make_exception_ptr(InvalidStateError("race(): no task")));
        }
        return detail::state_of(handles[winner])->join_outcome();
    } catch (...) {
        return Outcome<T>::failed(std::current_exception());  // out of memory
    }
}

template <class T>
Task<T> run_race(std::vector<TaskHandle<T>> handles, std::vector<Task<T>> tasks) {
    JoinScope scope(JoinScope::Mode::race, "race()");
    const std::size_t adopted = handles.size();
    handles.resize(adopted + tasks.size());
    for (std::size_t i = 0; i < adopted; ++i) {
        TaskHandle<T> handle = std::move(handles[i]);
        scope.start(handles[i], std::move(handle), i);
    }
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        scope.start(handles[adopted + i], std::move(tasks[i]), adopted + i);
    }
    co_await scope.wait_all();
    JoinScope::Conclusion concluded = scope.conclude(false);
    if (concluded.ending) {
        co_yield std::move(*concluded.ending);  // no throw: docs/zero-exception.md
    }
    Outcome<T> result = race_result(handles, concluded.index);
    if (!result) {
        co_yield propagate(std::move(result));
    }
    if constexpr (std::is_void_v<T>) {
        co_return;
    } else {
        co_return std::move(result).value();
    }
}

template <class T>
void add_racer(std::vector<TaskHandle<T>>& handles, std::vector<Task<T>>& tasks, Task<T>&& task) {
    tasks.push_back(std::move(task));
    (void)handles;
}
template <class T>
void add_racer(std::vector<TaskHandle<T>>& handles, std::vector<Task<T>>& tasks,
               TaskHandle<T>&& handle) {
    handles.push_back(std::move(handle));
    (void)tasks;
}

}  // namespace detail

/// Runs the tasks concurrently (each `Task` spawned as a child task when the returned Task is
/// awaited; a `TaskHandle` waited for as it is) and returns the outcome of the **first one to
/// finish** — its value, or its exception rethrown. Every other task is cancelled (kind
/// `parent`) and **awaited before race returns**: nothing is left running (docs/semantics.md
/// §4.5). All tasks must have the same result type. Decided here:
/// - A task that ends cancelled does not win (it did not finish its work); if every task ends
///   cancelled, race throws `CancelledError`.
/// - The losers' results are discarded (a loser that completed an operation just before being
///   cancelled loses that result — race over side-effecting work accordingly); a loser's failure
///   is reported through the loop's exception handler when its last handle goes.
/// - **Outer cancel**: passed on to every task (pending when race starts, or arriving while it
///   waits). If a task still finished first (it refused the cancel), its outcome is delivered and
///   the cancel stays pending for the next suspension point; otherwise race throws
///   `CancelledError`.
///
/// Completes when: every task has ended (the first to finish decides the outcome).
/// Suspension point: yes (calling `race(…)` only builds the Task; nothing starts before it is
/// awaited).
/// On cancel: passed on to every task, as above.
/// Throws: the winner's exception; `CancelledError` (outer cancel, or every task ended
/// cancelled); `InvalidStateError` outside a task, for an empty Task or handle, for a handle of
/// another loop or of the awaiting task itself; `std::bad_alloc`.
/// Thread safety: loop thread only (await it in a task; handles of the same loop).
template <class A, class... As>
    requires(detail::TaskOrHandle<A> && (detail::TaskOrHandle<As> && ...) &&
             (std::is_same_v<typename std::remove_cvref_t<A>::value_type,
                             typename std::remove_cvref_t<As>::value_type> &&
              ...))
[[nodiscard]] Task<typename std::remove_cvref_t<A>::value_type> race(A&& first, As&&... rest) {
    using T = typename std::remove_cvref_t<A>::value_type;
    std::vector<TaskHandle<T>> handles;
    std::vector<Task<T>> tasks;
    detail::add_racer(handles, tasks, std::remove_cvref_t<A>(std::forward<A>(first)));
    (detail::add_racer(handles, tasks, std::remove_cvref_t<As>(std::forward<As>(rest))), ...);
    return detail::run_race(std::move(handles), std::move(tasks));
}

/// `race` over a vector of `Task<T>`. Same rules as the variadic `race`; an empty vector throws
/// `InvalidStateError` when awaited.
template <class T>
[[nodiscard]] Task<T> race(std::vector<Task<T>> tasks) {
    return detail::run_race(std::vector<TaskHandle<T>>{}, std::move(tasks));
}

/// `race` over a vector of `TaskHandle<T>`. Same rules as the variadic `race`; an empty vector
/// throws `InvalidStateError` when awaited.
template <class T>
[[nodiscard]] Task<T> race(std::vector<TaskHandle<T>> handles) {
    return detail::run_race(std::move(handles), std::vector<Task<T>>{});
}

}  // namespace uvtask
