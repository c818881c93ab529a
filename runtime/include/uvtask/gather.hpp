// uvtask — gather(): run tasks concurrently, collect every result (asyncio.gather, made safe).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "uvtask/errors.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/join_scope.hpp"

namespace uvtask {

/// The element `gather` returns for a task of `T`: `T`, or `std::monostate` for `void`.
/// (A type: nothing runs, nothing throws.)
template <class T>
using GatherValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {

template <class T>
GatherValue<T> gathered_value(const TaskHandle<T>& handle) {
    if constexpr (std::is_void_v<T>) {
        detail::state_of(handle)->join_result();
        return {};
    } else {
        return detail::state_of(handle)->join_result();
    }
}

/// True if `handle`'s task ended with a value (false for a handle that never started: a start
/// failure is then what `conclude` rethrows).
template <class T>
[[nodiscard]] bool ended_with_value(const TaskHandle<T>& handle) noexcept {
    return handle.valid() && handle.done() && state_of(handle)->ending() == Ending::value;
}

template <class... As>
Task<std::tuple<GatherValue<typename As::value_type>...>> run_gather(As... items) {
    JoinScope scope(JoinScope::Mode::gather, "gather()");
    std::tuple<TaskHandle<typename As::value_type>...> handles;
    std::tuple<As...> pending(std::move(items)...);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
        (scope.start(std::get<I>(handles), std::move(std::get<I>(pending)), I), ...);
    }
    (std::index_sequence_for<As...>{});
    co_await scope.wait_all();
    const bool all_values = std::apply(
        [](const auto&... handle) { return (... && ended_with_value(handle)); }, handles);
    JoinScope::Conclusion concluded = scope.conclude(all_values);
    if (concluded.ending) {
        co_yield std::move(*concluded.ending);  // no throw: docs/zero-exception.md
    }
    co_return std::apply(
        [](const auto&... handle) {
            return std::tuple<GatherValue<typename As::value_type>...>(gathered_value(handle)...);
        },
        handles);
}

template <class A>
Task<std::conditional_t<std::is_void_v<typename A::value_type>, void,
                        std::vector<typename A::value_type>>>
run_gather_range(std::vector<A> items) {
    using T = typename A::value_type;
    JoinScope scope(JoinScope::Mode::gather, "gather()");
    std::vector<TaskHandle<T>> handles(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        scope.start(handles[i], std::move(items[i]), i);
    }
    co_await scope.wait_all();
    bool all_values = true;
    for (const TaskHandle<T>& handle : handles) {
        all_values = all_values && ended_with_value(handle);
    }
    JoinScope::Conclusion concluded = scope.conclude(all_values);
    if (concluded.ending) {
        co_yield std::move(*concluded.ending);  // no throw: docs/zero-exception.md
    }
    if constexpr (std::is_void_v<T>) {
        for (const TaskHandle<T>& handle : handles) {
            detail::state_of(handle)->join_result();
        }
    } else {
        std::vector<T> results;
        results.reserve(handles.size());
        for (const TaskHandle<T>& handle : handles) {
            results.push_back(detail::state_of(handle)->join_result());
        }
        co_return results;
    }
}

}  // namespace detail

/// Runs every task concurrently — each `Task` is spawned as a child task when the returned Task
/// is awaited; a `TaskHandle` is waited for as it is — and returns their results as a tuple, in
/// argument order (`std::monostate` for `void` tasks) (docs/semantics.md §4.4). Semantics,
/// decided here (asyncio.gather's, minus its traps):
/// - **First failure**: the first task to fail — or to end cancelled without gather asking (it
///   counts as failing with `CancelledError`, asyncio) — cancels every other task (kind
///   `parent`); gather waits until they have all ended, then rethrows that first failure. Later
///   failures stay in their tasks and are reported through the loop's exception handler when the
///   last handle to them goes (never dropped silently); use `TaskGroup` to receive all of them.
/// - **Outer cancel**: a cancel of the awaiting task (pending when gather starts, or arriving
///   while it waits) is passed on to every task; once they have all ended gather throws
///   `CancelledError` — unless every task returned a value anyway (all refused): then the
///   results are returned and the cancel stays pending for the next suspension point (atomic
///   completion). A failure that happened before the cancel arrived is rethrown instead, the
///   cancel staying pending.
/// - No task is left running when gather returns or throws, including handles passed in (they
///   are cancelled on a failure or an outer cancel, like the spawned ones).
///
/// Completes when: every task has ended.
/// Suspension point: yes (calling `gather(…)` only builds the Task; nothing starts before it is
/// awaited).
/// On cancel: passed on to every task, as above.
/// Throws: the first failure; `CancelledError` (outer cancel); `InvalidStateError` outside a
/// task, for an empty Task or handle, or for a handle of another loop or of the awaiting task
/// itself; `std::bad_alloc`. A start error is rethrown after the tasks already started ended.
/// Thread safety: loop thread only (await it in a task; handles of the same loop).
template <class... As>
    requires(sizeof...(As) > 0 && (detail::TaskOrHandle<As> && ...))
[[nodiscard]] Task<std::tuple<GatherValue<typename std::remove_cvref_t<As>::value_type>...>> gather(
    As&&... items) {
    return detail::run_gather(std::remove_cvref_t<As>(std::forward<As>(items))...);
}

/// `gather` over a vector of `Task<T>` or `TaskHandle<T>`: a `std::vector<T>` of the results in
/// order (`Task<void>` for `void` tasks).
///
/// Completes when: every task has ended; an empty vector completes at once, without suspending
/// (a pending cancel is not thrown by it).
/// Suspension point: yes, unless the vector is empty.
/// On cancel, Throws, Thread safety: as the variadic `gather`.
template <class A>
    requires detail::TaskOrHandle<A>
[[nodiscard]] Task<std::conditional_t<std::is_void_v<typename A::value_type>, void,
                                      std::vector<typename A::value_type>>>
gather(std::vector<A> items) {
    return detail::run_gather_range(std::move(items));
}

}  // namespace uvtask
