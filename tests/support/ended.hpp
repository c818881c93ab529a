// Test support: run a Task and keep what it ended with (`Ended<T>`: a value or an exception)
// to CHECK it.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

template <class T>
struct Ended {
    using Value = std::conditional_t<std::is_void_v<T>, bool, T>;
    std::optional<Value> value;
    std::exception_ptr error;

    [[nodiscard]] bool ok() const noexcept { return value.has_value(); }
    /// The exception as `E`, or null.
    template <class E>
    [[nodiscard]] const E* as() const {
        if (!error) {
            return nullptr;
        }
        try {
            std::rethrow_exception(error);
        } catch (const E& e) {
            return &e;
        } catch (...) {
            return nullptr;
        }
    }
    template <class E>
    [[nodiscard]] bool threw() const {
        return as<E>() != nullptr;
    }
};

/// Awaits `work` inline and returns its outcome instead of throwing.
template <class T>
Task<Ended<T>> outcome_of(Task<T> work) {
    Ended<T> out;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(work);
            out.value.emplace(true);
        } else {
            T value = co_await std::move(work);
            out.value.emplace(std::move(value));
        }
    } catch (...) {
        out.error = std::current_exception();
    }
    co_return out;
}

/// The outcome of a finished task, from its handle.
template <class T>
Ended<T> outcome_of(const TaskHandle<T>& handle) {
    Ended<T> out;
    try {
        if constexpr (std::is_void_v<T>) {
            handle.result();
            out.value.emplace(true);
        } else {
            out.value.emplace(handle.result());
        }
    } catch (...) {
        out.error = std::current_exception();
    }
    return out;
}

/// Waits for `handle`'s task to end (without passing on a cancel of the waiter: `shield`) and
/// returns its outcome.
template <class T>
Task<Ended<T>> settled(TaskHandle<T> handle) {
    try {
        if constexpr (std::is_void_v<T>) {
            co_await shield(handle);
        } else {
            [[maybe_unused]] T value = co_await shield(handle);
        }
    } catch (...) {
        // the outcome is read from the handle below
    }
    co_return outcome_of(handle);
}

}  // namespace uvtask::testing
