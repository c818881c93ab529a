// uvtask — Outcome<T>: how an operation ended, as a value (the zero-exception path,
// docs/zero-exception.md): a `T`, a cancellation, or another exception — never two.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <exception>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "uvtask/errors.hpp"

namespace uvtask {

namespace detail {
struct Propagation;
}  // namespace detail

/// How an operation ended, as a value: the `T` it produced (nothing for `Outcome<void>`), the
/// cancellation it was stopped by (`CancelledError`: `message()`, `kind()`), or another
/// exception (`std::exception_ptr`) — exactly one of the three. What `co_await nothrow(x)`
/// returns instead of throwing (nothrow.hpp); `co_yield propagate(outcome)` ends a coroutine
/// with a cancellation or an exception without throwing it.
///
/// Holding a cancellation is not a pending request: the request was consumed when the
/// cancellation was delivered into the Outcome, exactly as a throw consumes it (the task's
/// `cancelling()` is unchanged; `uncancel()` still withdraws it, docs/semantics.md §3.4).
///
/// Thread safety: a plain value (no synchronisation), like `std::optional`.
template <class T = void>
class [[nodiscard]] Outcome {
    static_assert(!std::is_reference_v<T>, "Outcome<T&> is not supported: use a pointer");
    using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

public:
    /// The `T` an `Outcome<T>` holds.
    using value_type = T;

    /// An `Outcome<void>` that holds its value (the operation completed).
    /// At once; not a suspension point; throws nothing; any thread.
    Outcome() noexcept
        requires std::is_void_v<T>
    = default;
    /// Holds `value`. At once; not a suspension point; throws what constructing the `T`
    /// throws; any thread.
    template <class U = Stored>
        requires(!std::is_void_v<T> && std::is_constructible_v<T, U &&> &&
                 !std::is_same_v<std::remove_cvref_t<U>, Outcome>)
    Outcome(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>)  // NOLINT: implicit
        : state_(std::in_place_index<0>, std::forward<U>(value)) {}

    /// Holds the cancellation `error` (its message and kind).
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] static Outcome cancelled(CancelledError error) noexcept {
        return Outcome(std::in_place_index<1>, std::move(error));
    }
    /// Holds the exception `error` (not a `CancelledError`: that is `cancelled()`). A null
    /// `error` is misuse: it is replaced by an `InvalidStateError` saying so.
    /// At once; not a suspension point; throws nothing (out of memory for the replacement, the
    /// Outcome holds `std::bad_alloc`'s); any thread.
    [[nodiscard]] static Outcome failed(std::exception_ptr error) noexcept {
        if (!error) [[unlikely]] {
            error = null_exception();
        }
        return Outcome(std::in_place_index<2>, std::move(error));
    }

    /// True if it holds the value. At once; throws nothing; any thread.
    [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
    /// Same as `has_value()`. At once; throws nothing; any thread.
    explicit operator bool() const noexcept { return has_value(); }
    /// True if it holds a cancellation. At once; throws nothing; any thread.
    [[nodiscard]] bool is_cancelled() const noexcept { return state_.index() == 1; }
    /// True if it holds an exception other than a cancellation. At once; throws nothing.
    [[nodiscard]] bool has_exception() const noexcept { return state_.index() == 2; }

    /// The value; or throws what the Outcome holds: its `CancelledError` (a copy), or its
    /// exception rethrown. This is the one throw of a mixed chain, at the place that asked for
    /// exceptions. At once; not a suspension point; any thread.
    [[nodiscard]] decltype(auto) value() & { return get(*this); }
    /// Same; the `T` is moved out (returned by value). At once; not a suspension point; any
    /// thread.
    [[nodiscard]] T value() && {
        if constexpr (std::is_void_v<T>) {
            get(*this);
        } else {
            return std::move(get(*this));
        }
    }
    /// Same, read-only. At once; not a suspension point; any thread.
    [[nodiscard]] decltype(auto) value() const& { return get(*this); }

    /// The cancellation held. Throws `InvalidStateError` if it holds none.
    /// At once; not a suspension point; any thread.
    [[nodiscard]] const CancelledError& cancellation() const {
        if (!is_cancelled()) [[unlikely]] {
            throw_not_cancelled();
        }
        return std::get<1>(state_);
    }
    /// The cancellation's message (`cancel(msg)`). Throws `InvalidStateError` if it holds none.
    /// At once; not a suspension point; any thread.
    [[nodiscard]] const std::string& message() const { return cancellation().message(); }
    /// Who asked: user, timeout, parent, shutdown or signal. Throws `InvalidStateError` if it
    /// holds no cancellation. At once; not a suspension point; any thread.
    [[nodiscard]] CancelKind kind() const { return cancellation().kind(); }
    /// The exception held (other than a cancellation); null when it holds a value or a
    /// cancellation. At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] std::exception_ptr exception() const noexcept {
        return has_exception() ? std::get<2>(state_) : std::exception_ptr();
    }

private:
    template <std::size_t I, class Arg>
    Outcome(std::in_place_index_t<I> index, Arg&& arg) noexcept
        : state_(index, std::forward<Arg>(arg)) {}

    template <class U>
    friend detail::Propagation propagate(Outcome<U> outcome) noexcept;

    template <class Self>
    static decltype(auto) get(Self& self) {
        if (self.state_.index() == 1) [[unlikely]] {
            throw std::get<1>(self.state_);
        }
        if (self.state_.index() == 2) [[unlikely]] {
            std::rethrow_exception(std::get<2>(self.state_));
        }
        if constexpr (!std::is_void_v<T>) {
            return std::get<0>(self.state_);  // T& or const T&
        }
    }
    [[noreturn]] static void throw_not_cancelled() {
        throw InvalidStateError("Outcome: it holds no cancellation (check is_cancelled())");
    }
    static std::exception_ptr null_exception() noexcept {
        return std::make_exception_ptr(InvalidStateError("Outcome::failed() of a null exception"));
    }

    std::variant<Stored, CancelledError, std::exception_ptr> state_;
};

namespace detail {

/// What `propagate(outcome)` carries to the coroutine's promise: the cancellation or the
/// exception the coroutine ends with.
/// (Two members, not a variant: GCC 12 warns "maybe uninitialized" on a variant moved through
/// a coroutine's awaiter.)
struct Propagation {
    /// Ends with the cancellation `error` (no exception object).
    [[nodiscard]] static Propagation of_cancel(CancelledError error) noexcept {
        Propagation out;
        out.cancel = std::move(error);
        return out;
    }
    /// Ends with the exception `error` (not null); `is_cancel`: it is a thrown CancelledError.
    [[nodiscard]] static Propagation of_error(std::exception_ptr error,
                                              bool is_cancel = false) noexcept {
        Propagation out;
        out.error = std::move(error);
        out.exception_is_cancel = is_cancel;
        return out;
    }
    CancelledError cancel;             // the cancellation, when `error` is null
    std::exception_ptr error;          // the exception, if any
    bool exception_is_cancel = false;  // the exception object is a (thrown) CancelledError
};

/// The `InvalidStateError` of `propagate()` given an Outcome that holds a value (no throw).
[[nodiscard]] std::exception_ptr propagate_of_value() noexcept;

/// Calls `resume` (an awaiter's throwing `await_resume`) and returns what it returned or threw
/// as an Outcome: the path of an awaiter with no value delivery of its own, and of the
/// non-cancel errors of those that have one. (A catch site in a small function of its own: a
/// throw's cost grows with the catching function's table of call sites.)
template <class R, class F>
[[nodiscard]] Outcome<R> capture_outcome(F&& resume) noexcept {
    try {
        if constexpr (std::is_void_v<R>) {
            static_cast<F&&>(resume)();
            return Outcome<R>();
        } else {
            return Outcome<R>(static_cast<F&&>(resume)());
        }
    } catch (const CancelledError& cancel) {
        try {
            return Outcome<R>::cancelled(cancel);
        } catch (...) {
            return Outcome<R>::failed(std::current_exception());  // bad_alloc copying the message
        }
    } catch (...) {
        return Outcome<R>::failed(std::current_exception());
    }
}

}  // namespace detail

/// `co_yield propagate(std::move(outcome))` in a `Task<T>` coroutine: ends it at once with the
/// outcome's cancellation or exception, without throwing (locals are destroyed as by a
/// `co_return`). The coroutine's awaiter receives it as a value if it used `nothrow`, thrown
/// once if it used plain `co_await`; a spawned task ended this way ends cancelled (or failed),
/// and its joiners receive the same. An outcome holding a value is misuse: the coroutine ends
/// with an `InvalidStateError` saying so.
///
/// Completes when: never — the coroutine does not continue after this `co_yield`.
/// Suspension point: no (it is the coroutine's end; the cancellation it carries was delivered
/// already, it is not a new request).
/// On cancel: nothing happens here (no suspension point).
/// Throws: nothing (the ending is moved, not copied).
/// Thread safety: the thread of the loop the task runs on.
template <class T>
[[nodiscard]] detail::Propagation propagate(Outcome<T> outcome) noexcept {
    if (outcome.is_cancelled()) {
        return detail::Propagation::of_cancel(std::move(std::get<1>(outcome.state_)));
    }
    if (outcome.has_exception()) {
        return detail::Propagation::of_error(outcome.exception());
    }
    return detail::Propagation::of_error(detail::propagate_of_value());
}

}  // namespace uvtask
