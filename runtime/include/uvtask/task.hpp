// uvtask — Task<T>: a lazy coroutine, run inline by `co_await` or independently by `spawn`.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <concepts>
#include <coroutine>
#include <functional>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/outcome.hpp"
#include "uvtask/detail/frame_allocator.hpp"
#include "uvtask/detail/raise.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask {

template <class T>
class Task;

namespace detail {

/// Ends a coroutine: hand control to whoever awaited it inline (symmetric transfer), or, for
/// the body of a spawned task, complete the task.
struct FinalAwaiter {
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> frame) noexcept {
        PromiseBase& promise = frame.promise();
        if (promise.continuation) {
            return promise.continuation;
        }
        if (promise.root_of != nullptr) {
            promise.root_of->on_body_final(frame, promise);  // may destroy `frame` (and us)
        }
        return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
};

/// `co_yield propagate(outcome)`: ends the coroutine with the outcome's cancellation or
/// exception, without throwing. The coroutine stays suspended here and is treated as ended:
/// whoever awaited it inline reads the ending from the promise, then destroys the frame (and
/// the cancellation this awaiter holds with it); the body of a spawned task completes the task.
class PropagateAwaiter {
public:
    explicit PropagateAwaiter(Propagation ending) noexcept : ending_(std::move(ending)) {}
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> frame) noexcept {
        PromiseBase& promise = frame.promise();
        if (!ending_.error) {
            promise.propagated_cancel = &ending_.cancel;
        } else {
            promise.exception = ending_.error;
            promise.exception_is_cancel = ending_.exception_is_cancel;
        }
        return FinalAwaiter{}.await_suspend(frame);  // may destroy `frame` (and us)
    }
    void await_resume() const noexcept {}  // never resumed

private:
    Propagation ending_;
};

template <class T>
class TaskPromiseStorage : public PromiseBase {
public:
    template <class U>
        requires std::is_convertible_v<U&&, T>
    void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(value));
    }
    [[nodiscard]] T take_value() { return std::move(*value_); }

private:
    std::optional<T> value_;
};

template <>
class TaskPromiseStorage<void> : public PromiseBase {
public:
    void return_void() const noexcept {}
    void take_value() const noexcept {}
};

template <class T>
class TaskPromise final : public TaskPromiseStorage<T> {
public:
    Task<T> get_return_object() noexcept;
    [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
    [[nodiscard]] FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept {
        this->exception = std::current_exception();
        this->exception_is_cancel = current_exception_is_cancel();
    }
    /// `co_yield propagate(outcome)` (outcome.hpp): the coroutine ends there.
    [[nodiscard]] PropagateAwaiter yield_value(Propagation ending) noexcept {
        return PropagateAwaiter(std::move(ending));
    }

    static void* operator new(std::size_t size) { return allocate_frame(size); }
    static void operator delete(void* frame, std::size_t size) noexcept {
        deallocate_frame(frame, size);
    }
};

}  // namespace detail

/// A lazy coroutine returning `T` (like a Python coroutine object). Nothing runs until it is
/// awaited — `co_await task` runs it inline, inside the current task, and returns its result or
/// rethrows its exception — or spawned (`spawn(std::move(task))`). Move-only; awaiting consumes
/// it. Destroying a Task that never ran destroys its frame without running it.
///
/// Cancellation: a Task has no cancellation of its own; it runs inside a spawned task, and a
/// cancel of that task is thrown at the next suspension point inside it.
///
/// Lambda coroutines: a capturing lambda that is a coroutine dangles once the lambda object
/// dies; prefer functions taking their arguments by value.
///
/// Lifetime: the Task owns its frame until it is awaited (the awaiter then owns it until the
/// `co_await` ends) or released to `spawn`. Thread safety: a Task is a plain object (no
/// synchronisation); run it on the thread of the loop it is awaited or spawned on.
template <class T = void>
class [[nodiscard]] Task {
    static_assert(!std::is_reference_v<T>, "Task<T&> is not supported: return a pointer");

public:
    /// The coroutine promise (what makes a function returning `Task<T>` a coroutine).
    using promise_type = detail::TaskPromise<T>;
    /// What `co_await` on the Task returns.
    using value_type = T;
    /// The coroutine frame's handle (`release()`).
    using Handle = std::coroutine_handle<promise_type>;

    /// An empty Task (`valid()` is false); awaiting it throws `InvalidStateError`.
    /// At once; not a suspension point; throws nothing; any thread.
    Task() noexcept = default;
    /// Takes ownership of `frame` (what the promise's `get_return_object` does).
    /// At once; not a suspension point; throws nothing; any thread.
    explicit Task(Handle frame) noexcept : frame_(frame) {}
    /// Takes `other`'s frame, leaving `other` empty.
    /// At once; not a suspension point; throws nothing; any thread.
    Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
    /// Destroys this Task's frame (if it never ran), then takes `other`'s, leaving it empty.
    /// At once; not a suspension point; throws nothing; the thread that owns both.
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            reset();
            frame_ = std::exchange(other.frame_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    /// Destroys the frame of a Task that never ran, without running it (its arguments and
    /// locals are destroyed). At once; not a suspension point; throws nothing; owner's thread.
    ~Task() { reset(); }

    /// False for a default-constructed or already awaited/spawned Task.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(frame_); }

    /// Gives up ownership of the frame (used by `spawn`); the Task is empty afterwards.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] Handle release() noexcept { return std::exchange(frame_, {}); }

    /// What `co_await task` uses: owns the frame for the duration of the `co_await` and
    /// destroys it when the `co_await` ends. Not copyable; loop thread only.
    class Awaiter {
    public:
        /// Takes ownership of `frame` (may be empty). At once; throws nothing.
        explicit Awaiter(Handle frame) noexcept : frame_(frame) {}
        Awaiter(const Awaiter&) = delete;
        Awaiter& operator=(const Awaiter&) = delete;
        /// Destroys the frame (run or not). Throws nothing.
        ~Awaiter() {
            if (frame_) {
                frame_.destroy();
            }
        }
        /// True for an empty Task (then `await_resume` throws). Throws nothing.
        [[nodiscard]] bool await_ready() const noexcept { return !frame_; }
        /// Starts the body by symmetric transfer; the caller resumes when the body ends.
        /// Throws nothing.
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
            frame_.promise().continuation = caller;
            return frame_;
        }
        /// The body's value, or rethrows the exception that escaped it (throws the
        /// cancellation it ended with by `propagate`); `InvalidStateError` for an empty Task.
        T await_resume() {
            if (!frame_) {
                detail::throw_empty_task();
            }
            auto& promise = frame_.promise();
            if (promise.propagated_cancel != nullptr) [[unlikely]] {
                throw std::move(*promise.propagated_cancel);
            }
            if (promise.exception) {
                std::rethrow_exception(promise.exception);
            }
            return promise.take_value();
        }
        /// For `nothrow(task)`: how the body ended, as an `Outcome` (a cancellation it ended
        /// with by `propagate` without a throw; one that escaped it as a thrown
        /// `CancelledError` is read back by one rethrow). Throws nothing but `std::bad_alloc`.
        Outcome<T> await_resume_outcome() {
            if (!frame_) {
                return Outcome<T>::failed(detail::empty_task_error());
            }
            auto& promise = frame_.promise();
            if (promise.propagated_cancel != nullptr) {
                return Outcome<T>::cancelled(std::move(*promise.propagated_cancel));
            }
            if (promise.exception) {
                if (promise.exception_is_cancel) {
                    return Outcome<T>::cancelled(detail::cancellation_of(promise.exception));
                }
                return Outcome<T>::failed(promise.exception);
            }
            try {
                if constexpr (std::is_void_v<T>) {
                    return Outcome<T>();
                } else {
                    return Outcome<T>(promise.take_value());
                }
            } catch (...) {
                return Outcome<T>::failed(std::current_exception());
            }
        }

    private:
        Handle frame_;
    };

    /// Runs the task inline in the current task (like a function call) and returns its value.
    ///
    /// Completes when: the body returns or throws.
    /// Suspension point: no — only the awaitables inside the body are (docs/semantics.md §1.1).
    /// On cancel: a Task has no cancellation of its own; the awaiting task's cancel is thrown
    /// at the next suspension point inside the body, and propagates out of it like any exception.
    /// Throws: whatever escaped the body (`CancelledError` included); `InvalidStateError` for an
    /// empty Task (default-constructed, already awaited or spawned).
    /// Thread safety: the thread of the loop the awaiting task runs on.
    Awaiter operator co_await() && noexcept { return Awaiter{release()}; }
    /// Same as the rvalue form: awaiting consumes the Task (awaiting it again is
    /// `InvalidStateError`).
    Awaiter operator co_await() & noexcept { return Awaiter{release()}; }

private:
    void reset() noexcept {
        if (frame_) {
            std::exchange(frame_, {}).destroy();
        }
    }
    Handle frame_;
};

template <class T>
Task<T> detail::TaskPromise<T>::get_return_object() noexcept {
    return Task<T>{std::coroutine_handle<TaskPromise<T>>::from_promise(*this)};
}

namespace detail {
/// True for `Task<T>` (whatever its `T`): the one "is a Task" trait.
template <class A>
inline constexpr bool is_task_v = false;
template <class T>
inline constexpr bool is_task_v<Task<T>> = true;
/// A `Task<T>`, after removing references and cv-qualifiers.
template <class A>
concept TaskType = is_task_v<std::remove_cvref_t<A>>;

/// A callable that, called with `Args` (as lvalues, as the task calls it), returns a `Task`.
template <class F, class... Args>
concept TaskFactory = !TaskType<F> && std::invocable<std::decay_t<F>&, std::decay_t<Args>&...> &&
                      TaskType<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>>;
/// The `T` of the `Task<T>` a `TaskFactory` returns.
template <class F, class... Args>
using factory_value_t =
    typename std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>::value_type;

/// The coroutine that owns a callable and its arguments for the whole run of the Task it returns
/// (`spawn(callable, args…)`): a capturing lambda that is a coroutine keeps its captures.
template <class F, class... Args>
Task<factory_value_t<F, Args...>> call_owning(F callable, Args... args) {
    if constexpr (std::is_void_v<factory_value_t<F, Args...>>) {
        co_await std::invoke(callable, args...);
    } else {
        factory_value_t<F, Args...> result = co_await std::invoke(callable, args...);
        co_return result;
    }
}
}  // namespace detail

// A function declared to return `Task<T>` with no `co_await`, `co_yield` or `co_return` in its
// body (a task group body that only spawns, say) is not a coroutine: it flows off its end
// without returning, which is undefined behaviour and crashes. GCC and clang only warn about
// that; every file that includes uvtask makes it an error (`-Werror=return-type`): add a
// `co_return;`.
#pragma GCC diagnostic error "-Wreturn-type"

}  // namespace uvtask
