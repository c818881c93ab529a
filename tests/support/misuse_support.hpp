// Test support for the misuse cases: awaiting uvtask awaitables from code that is not a uvtask
// task, recording a loop's reports, running a bare libuv loop until a condition holds.
#pragma once

#include <doctest/doctest.h>
#include <uv.h>

#include <coroutine>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

inline bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

// A coroutine type that is not a uvtask Task: eager, never suspends at start or end. Used to
// await uvtask awaitables outside any uvtask task.
struct Foreign {
    struct promise_type {
        Foreign get_return_object() noexcept { return {}; }
        std::suspend_never initial_suspend() const noexcept { return {}; }
        std::suspend_never final_suspend() const noexcept { return {}; }
        void return_void() const noexcept {}
        void unhandled_exception() const noexcept { std::terminate(); }
    };
};

// Awaits `make()`'s awaitable from a Foreign coroutine and stores what it threw.
template <class Make>
Foreign await_outside(Make make, std::string* error, bool* completed) {
    try {
        co_await make();
        *completed = true;
    } catch (const InvalidStateError& e) {
        *error = e.what();
    }
}

/// The message of the InvalidStateError that awaiting `make()`'s awaitable outside a task threw.
template <class Make>
std::string outside_task_error(Make make) {
    std::string error;
    bool completed = false;
    (void)await_outside(std::move(make), &error, &completed);
    CHECK_FALSE(completed);
    return error;
}

// Records every report of a Loop (`handler()`) or of run() (`options()`); the tests that expect
// none check that it stays empty.
struct Reports {
    std::vector<ExceptionContext> seen;
    ExceptionHandler handler() {
        return [this](const ExceptionContext& context) { seen.push_back(context); };
    }
    RunOptions options() {
        RunOptions o;
        o.exception_handler = handler();
        return o;
    }
};

// Runs `loop` until `done()` or a bound on iterations (no hang if the runtime misbehaves).
template <class Done>
void run_until(uv_loop_t* loop, Done done) {
    for (int i = 0; i < 100'000 && !done(); ++i) {
        uv_run(loop, UV_RUN_ONCE);
    }
}

}  // namespace uvtask::testing
