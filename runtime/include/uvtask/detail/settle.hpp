// uvtask internals — run a Task inline and take its outcome without rethrowing it.
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/outcome.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/task.hpp"

namespace uvtask::detail {

/// How a Task ended, apart from its value: an exception (and whether it is a
/// `CancelledError`), or a cancellation it ended with by `propagate` (no exception object).
/// Unlike `Outcome`, a thrown `CancelledError` stays an exception object: a scope can pass it on
/// without a rethrow.
struct SettledEnding {
    std::exception_ptr error;              // what escaped the Task, if anything
    std::optional<CancelledError> cancel;  // the cancellation it propagated, if any
    bool is_cancel = false;                // `error` is a CancelledError, or `cancel` is set

    /// The Task did not return a value.
    [[nodiscard]] bool failed() const noexcept { return error != nullptr || cancel.has_value(); }
    /// A `failed()` ending, for `co_yield` in the scope's coroutine: passed on without a throw.
    [[nodiscard]] Propagation ending() && noexcept {
        if (cancel) {
            return Propagation::of_cancel(std::move(*cancel));
        }
        return Propagation::of_error(error, is_cancel);
    }
    /// The cancellation of an ending that `is_cancel` (one rethrow if it was thrown).
    [[nodiscard]] CancelledError cancellation() const {
        return cancel ? *cancel : cancellation_of(error);
    }
};

/// What a Task ended with: a value, or a `SettledEnding`.
template <class T>
struct Settled : SettledEnding {
    using Value = std::conditional_t<std::is_void_v<T>, bool, T>;
    std::optional<Value> value;  // engaged when the Task returned (`true` for void)

    /// The value, or the exception rethrown (the cancellation thrown).
    T get() {
        if (cancel) {
            throw std::move(*cancel);
        }
        if (error) {
            std::rethrow_exception(error);
        }
        if constexpr (!std::is_void_v<T>) {
            return std::move(*value);
        }
    }
};

/// `co_await settle(std::move(task))`: runs `task` inline (symmetric transfer, like `co_await
/// task`) and returns a `Settled<T>` instead of rethrowing, so a scope can decide what to throw
/// without a catch site in a coroutine. Not a suspension point of its own. An empty Task settles
/// with an `InvalidStateError`.
template <class T>
class SettleAwaiter {
public:
    using Handle = typename Task<T>::Handle;
    explicit SettleAwaiter(Handle frame) noexcept : frame_(frame) {}
    SettleAwaiter(const SettleAwaiter&) = delete;
    SettleAwaiter& operator=(const SettleAwaiter&) = delete;
    ~SettleAwaiter() {
        if (frame_) {
            frame_.destroy();
        }
    }
    [[nodiscard]] bool await_ready() const noexcept { return !frame_; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
        frame_.promise().continuation = caller;
        return frame_;
    }
    Settled<T> await_resume() {
        Settled<T> out;
        if (!frame_) {
            out.error = empty_task_error();
            return out;
        }
        auto& promise = frame_.promise();
        if (promise.propagated_cancel != nullptr) {
            out.cancel.emplace(std::move(*promise.propagated_cancel));
            out.is_cancel = true;
            return out;
        }
        if (promise.exception) {
            out.error = promise.exception;
            out.is_cancel = promise.exception_is_cancel;
            return out;
        }
        if constexpr (std::is_void_v<T>) {
            out.value.emplace(true);
        } else {
            try {
                out.value.emplace(promise.take_value());
            } catch (...) {
                out.error = std::current_exception();
            }
        }
        return out;
    }

private:
    Handle frame_;
};

template <class T>
[[nodiscard]] SettleAwaiter<T> settle(Task<T> task) noexcept {
    return SettleAwaiter<T>{task.release()};
}

}  // namespace uvtask::detail
