// uvtask — seeing cancellation in a running program: the live tasks and what each waits on, the
// cancel-latency statistics (the switches are on `Loop` and `RunOptions`; README, "Debugging
// cancellation").
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace uvtask {

/// One live task, as `Loop::tasks()` saw it: a plain value (a snapshot; the task runs on).
struct TaskInfo {
    enum class State : std::uint8_t {
        ready,      ///< in the ready queue: spawned and not started yet, woken, or yielding
        running,    ///< the task that called `Loop::tasks()`
        suspended,  ///< waiting on `waiting_on`
    };
    std::string name;      ///< its name ("Task-<id>" by default)
    std::uint64_t id = 0;  ///< its number on its loop (1 for the first task spawned)
    State state = State::ready;
    /// What it waits on, in words, e.g. "sleep (998.2 ms left)", "join of task 'worker'",
    /// "Lock::lock()", "read on tcp fd 12", "operation <Operation::describe()>". For a ready
    /// task: "yield_now()" while it yields, "(not started)" before its first turn, else empty.
    std::string waiting_on;
    std::chrono::milliseconds age{0};  ///< since its loop took it in (the loop's ms clock)
    int cancelling = 0;                ///< `cancelling()`: requests not yet withdrawn
    bool cancel_pending = false;       ///< a request waits for the next suspension point
    /// The task that spawned it on this loop; 0: none known — spawned outside a task, or from
    /// another thread or loop (`spawn_on`, `LoopGroup::spawn`: a task number means nothing on
    /// another loop, and recording the loop too would cost every task 8 bytes).
    std::uint64_t parent_id = 0;
    std::string parent_name;           ///< its name if it is still alive, else empty
    /// The structured scope it is a child of, e.g. "task group of #1 'main'", "gather of #4
    /// 'fetch'"; empty for a task no scope watches.
    std::string scope;
};

/// "ready", "running" or "suspended". At once; throws nothing; any thread.
[[nodiscard]] const char* to_string(TaskInfo::State state) noexcept;

/// One latency distribution of `CancelLatencyStats`. Percentiles come from a log-scale
/// histogram (8 buckets per power of two): within 12.5% of the exact value, never above `max`,
/// which is exact.
struct LatencySummary {
    std::uint64_t count = 0;  ///< samples; the others are 0 when it is 0
    std::chrono::nanoseconds p50{0};
    std::chrono::nanoseconds p99{0};
    std::chrono::nanoseconds max{0};
};

/// A loop's cancel-latency statistics (`Loop::set_cancel_latency_stats`), since they were turned
/// on. `to_delivery`: from a `cancel()` (the first one not yet delivered) to its delivery — the
/// `CancelledError` thrown or returned at a suspension point, or the task skipped before its
/// first turn; a request withdrawn before delivery (a deadline's, a group's, an `uncancel()`)
/// counts nothing. `to_end`: from the latest delivery to the end of a task that ended
/// cancelled — its cleanup time.
struct CancelLatencyStats {
    LatencySummary to_delivery;
    LatencySummary to_end;
};

/// "schedule seed 42 (replay: UVTASK_SCHEDULE_SEED=42)": how a failure under a schedule seed
/// (`Loop::set_schedule_seed`, `RunOptions::schedule_seed`) names it so it can be replayed
/// (docs/testing.md). At once; throws `std::bad_alloc`; any thread.
[[nodiscard]] std::string schedule_seed_note(std::uint64_t seed);

/// Prints the two distributions on one line each ("cancel → delivery: n=12 p50=… p99=… max=…").
/// At once; throws what the stream throws; the caller's thread.
std::ostream& operator<<(std::ostream& out, const CancelLatencyStats& stats);

}  // namespace uvtask
