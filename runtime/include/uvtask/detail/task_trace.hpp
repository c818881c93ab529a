// uvtask internals — what the runtime records about a task for people looking at a running
// program: what each awaiter waits on, who spawned the task, when, and (opt-in) when a cancel was
// asked for and delivered. Read by `Loop::tasks()`, the slow-step detector, the swallowed-cancel
// report and the cancel-latency statistics (README, "Debugging cancellation").
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <typeinfo>

namespace uvtask::detail {

struct Suspension;

/// What a suspended task waits on: one constant table per kind of awaiter, handed to
/// `SuspensionPoint::park()` (so every awaiter names itself). `what` stays valid after the
/// awaiter is gone (the slow-step report names where a step resumed); `detail`, if set, appends
/// the specifics of one wait ("until …", "of task …") while the awaiter is alive.
struct WaitInfo {
    const char* what;  // e.g. "sleep", "join", "Lock::lock()"
    /// Appends the wait's specifics to `out` (a leading space included). May throw
    /// `std::bad_alloc`; loop thread, while the task is suspended in `self`.
    void (*detail)(const Suspension& self, std::string& out) = nullptr;
    /// The task suspended this way is in the ready queue already (`yield_now()`): listed as
    /// ready, not suspended.
    bool queued = false;
};

/// The per-task record (a member of `TaskState`, 24 bytes: every task pays for it). Loop thread.
/// The cancel-latency timestamps live in the task's lazily allocated extras instead (only a
/// task cancelled while the statistics are on has them).
struct TaskTrace {
    std::uint64_t parent = 0;             // number of the task that spawned it on its loop; 0: none
    std::uint64_t born_ms = 0;            // the loop's clock (uv_now) when the loop took it in
    const WaitInfo* last_wait = nullptr;  // what it suspended on last (kept after the wake-up)
};

/// The cancel-latency timestamps of one task (`Loop::set_cancel_latency_stats`), under the
/// task's lock: `cancel()` may come from another thread.
struct CancelTimes {
    std::uint64_t requested_ns = 0;  // oldest undelivered request
    std::uint64_t delivered_ns = 0;  // the latest delivery
};

/// The opt-in diagnostics of a loop that the core layer acts on (`TaskHost::trace_flags`): bits
/// read on any thread (relaxed: a diagnostic switch orders nothing).
struct TraceFlags {
    static constexpr std::uint8_t swallowed_cancels = 1;  // report a swallowed cancel
    static constexpr std::uint8_t latency_stats = 2;      // time cancel → delivery → end
    static constexpr std::uint8_t point_watch = 4;  // tell the loop's PointWatch of every park
    std::atomic<std::uint8_t> bits{0};
    [[nodiscard]] bool on(std::uint8_t flag) const noexcept {
        return (bits.load(std::memory_order_relaxed) & flag) != 0;
    }
    void set(std::uint8_t flag, bool enabled) noexcept {
        if (enabled) {
            bits.fetch_or(flag, std::memory_order_relaxed);
        } else {
            bits.fetch_and(static_cast<std::uint8_t>(~flag), std::memory_order_relaxed);
        }
    }
};

/// The name of `type` as written in C++ (demangled; the mangled name if that fails).
/// Throws `std::bad_alloc`.
[[nodiscard]] std::string readable_type_name(const std::type_info& type);

}  // namespace uvtask::detail
