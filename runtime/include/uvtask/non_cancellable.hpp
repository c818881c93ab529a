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

/// Runs `work` inline with cancellation held back (docs/semantics.md §3.7): while it runs, no suspension
/// point throws `CancelledError` and `cancel()` does not interrupt what the task waits on (an
/// awaited task is not cancelled either). Requests that arrive meanwhile are counted and
/// delivered at the first suspension point after it. Returns `work`'s result or rethrows its
/// exception. The tool for async cleanup.
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

/// Runs `body`, then always runs `cleanup` non-cancellably, then returns `body`'s result or
/// rethrows what `body` threw (`CancelledError` included). C++ forbids `co_await` inside a
/// `catch` block; this is the async `finally`. If `cleanup` itself throws, that exception
/// replaces `body`'s (as in Python). Any cancel that arrived during `cleanup` is delivered at
/// the next suspension point after it.
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
