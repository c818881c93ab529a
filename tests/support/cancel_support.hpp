// Test support for the cancellation suites: small coroutines (taking their arguments by value or
// by pointer) to suspend in, to join, and to catch the CancelledError a piece of work threw.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

using Clock = std::chrono::steady_clock;

inline Task<void> sleep_for(std::chrono::milliseconds delay) { co_await sleep(delay); }
inline Task<void> yield_once() { co_await yield_now(); }

/// Awaits `handle` inline: a join as a Task, for `cancel_of`.
template <class T>
Task<T> join(TaskHandle<T> handle) {
    if constexpr (std::is_void_v<T>) {
        co_await handle;
    } else {
        T value = co_await handle;
        co_return value;
    }
}

/// Runs `work` inline and returns the CancelledError it threw, or nullopt if it completed.
template <class T>
Task<std::optional<CancelledError>> cancel_of(Task<T> work) {
    std::optional<CancelledError> error;
    try {
        if constexpr (std::is_void_v<T>) {
            co_await std::move(work);
        } else {
            [[maybe_unused]] T value = co_await std::move(work);
        }
    } catch (const CancelledError& e) {
        error = e;
    }
    co_return error;
}

/// The CancelledError a finished task's handle rethrows from `result()`, or nullopt.
template <class T>
std::optional<CancelledError> result_cancel(const TaskHandle<T>& handle) {
    try {
        (void)handle.result();
    } catch (const CancelledError& e) {
        return e;
    }
    return std::nullopt;
}

/// Yields until `flag` is set (another task sets it); bounded so a broken runtime fails instead
/// of spinning forever.
inline Task<void> yield_until(const bool* flag) {
    for (int i = 0; i < 100'000 && !*flag; ++i) {
        co_await yield_now();
    }
    REQUIRE(*flag);
}

/// Busy-waits (without suspending) until `delay` has passed: makes a deadline or a time slice
/// certainly expire. Not a speed assertion.
inline void block_thread_for(std::chrono::microseconds delay) {
    const auto end = Clock::now() + delay;
    while (Clock::now() < end) {
    }
}

/// What cancelled a task that sleeps "forever" (`sleep_and_record`).
struct SleepRecord {
    bool caught = false;
    std::string message;
    CancelKind kind = CancelKind::user;
};
/// Sleeps an hour; a CancelledError is caught and recorded (the task then returns normally).
inline Task<void> sleep_and_record(SleepRecord* record) {
    try {
        co_await sleep(std::chrono::hours(1));
    } catch (const CancelledError& e) {
        record->caught = true;
        record->message = e.message();
        record->kind = e.kind();
    }
}

inline Task<void> sleep_forever() { co_await sleep(std::chrono::hours(1)); }

/// Sleeps `delay` and catches a CancelledError (the sleep may also complete first, if the
/// thread was preempted for longer than `delay`).
inline Task<void> sleep_catching_cancel(std::chrono::milliseconds delay) {
    try {
        co_await sleep(delay);
    } catch (const CancelledError&) {
    }
}

/// Refuses a cancel: waits for one in `sleep_forever`, catches it and returns `value`.
inline Task<int> catch_and_return(int value) {
    auto error = co_await cancel_of(sleep_forever());
    REQUIRE(error.has_value());
    co_return value;
}

inline Task<int> set_flag_and_return(bool* flag, int value) {
    *flag = true;
    co_return value;
}
inline Task<void> set_flag(bool* flag) {
    *flag = true;
    co_return;
}

}  // namespace uvtask::testing
