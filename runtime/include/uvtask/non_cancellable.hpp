// uvtask — non_cancellable() and with_cleanup(): hold cancellation back around critical work.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <concepts>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "uvtask/task.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask {

namespace detail {

/// Holds the current task's cancellation back for its lifetime (nestable).
class CancellationHold {
public:
    CancellationHold() noexcept : task_(current_task()) {
        if (task_ != nullptr) {
            task_->hold_cancellation();
        }
    }
    CancellationHold(const CancellationHold&) = delete;
    CancellationHold& operator=(const CancellationHold&) = delete;
    ~CancellationHold() {
        if (task_ != nullptr) {
            task_->release_cancellation();
        }
    }

private:
    TaskState* task_;
};

}  // namespace detail

/// Runs `work` inline with cancellation held back (docs/semantics.md §3.7): while it runs, no
/// suspension point throws `CancelledError` and `cancel()` does not interrupt what the task
/// waits on (an awaited task is not cancelled either). Holds nest. The tool for async cleanup.
///
/// Completes when: `work` ends; its value is returned.
/// Suspension point: no, itself (only the awaitables inside `work` are, and they hold the
/// cancel back); requests that arrive meanwhile are counted (`cancelling()`) and delivered at
/// the first suspension point after it.
/// On cancel: held back as above. A deadline expiring inside it cannot interrupt `work`; its
/// request is withdrawn and nothing is delivered later.
/// Throws: what `work` throws; `InvalidStateError` for an empty Task; `std::bad_alloc`.
/// Thread safety: loop thread only (await it in a task).
template <class T>
Task<T> non_cancellable(Task<T> work) {
    detail::CancellationHold hold;
    if constexpr (std::is_void_v<T>) {
        co_await std::move(work);
    } else {
        T result = co_await std::move(work);
        co_return result;
    }
}

/// Runs `body`, then always runs `cleanup` non-cancellably: the async `finally` (C++ forbids
/// `co_await` inside a `catch` block).
///
/// Completes when: `cleanup` has ended; returns `body`'s value.
/// Suspension point: `body`'s awaitables are (cancellable); `cleanup`'s hold cancellation back.
/// On cancel: a cancel thrown in `body` is caught, `cleanup` runs, then the `CancelledError` is
/// rethrown. A cancel that arrives during `cleanup` is delivered at the next suspension point
/// after it.
/// Throws: what `body` threw (`CancelledError` included), rethrown after `cleanup`; if `cleanup`
/// itself throws, that exception replaces `body`'s (as in Python); `std::bad_alloc`.
/// Thread safety: loop thread only (await it in a task).
template <class T>
Task<T> with_cleanup(Task<T> body, Task<void> cleanup) {
    std::exception_ptr failure;
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(body);
            result.emplace(true);
        } else {
            T value = co_await std::move(body);
            result.emplace(std::move(value));
        }
    } catch (...) {
        failure = std::current_exception();
    }
    co_await non_cancellable(std::move(cleanup));
    if (failure) {
        std::rethrow_exception(failure);
    }
    if constexpr (!std::is_void_v<T>) {
        co_return std::move(*result);
    }
}

}  // namespace uvtask
