// Private: the end of a loop's life, shared by run() and LoopGroup.
#pragma once

#include <uv.h>

#include <chrono>

#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

/// Closes every handle still open on `loop`, runs it until their close callbacks ran, and
/// closes it. Returns `uv_loop_close`'s result.
int close_owned_loop(uv_loop_t* loop) noexcept;

/// The first half of a shutdown (run()'s grace rule): cancels every task left (kind
/// `shutdown`; again for tasks spawned meanwhile) and runs the loop until they have all ended
/// or `grace` has passed. Loop thread.
void cancel_and_await_leftovers(LoopCore& core, std::chrono::milliseconds grace) noexcept;

}  // namespace uvtask::detail
