// uvtask internals — work on another thread that was asked to stop and that the loop watches for
// its end (a cancelled `to_thread` job).
#pragma once

#include <cstdint>

#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

/// Right before libuv polls, the loop calls `poll_end` on each watched node, and for a freshly
/// watched one spins briefly, so that a job that honours its stop request at once is completed
/// without the loop falling asleep in `epoll_wait` and waiting for a thread wake-up. `poll_end`
/// returns true once it has completed the work; the node is then unwatched. Lives in the
/// awaiter (no allocation). Loop thread only.
struct EndWatch : ListHook<EndWatch> {
    using PollHook = bool (*)(EndWatch*) noexcept;
    PollHook poll_end = nullptr;
    std::uint64_t spin_until_ns = 0;  // the loop may spin for this node until then
};

/// Watches `node` (its `poll_end` set), spinning for it for at most `spin_ns` before the loop
/// next blocks. Does nothing if out of memory (the work's own completion still arrives, later).
void watch_end(LoopCore& loop, EndWatch* node, std::uint64_t spin_ns) noexcept;
/// Stops watching `node` if watched.
void unwatch_end(LoopCore& loop, EndWatch* node) noexcept;

}  // namespace uvtask::detail
