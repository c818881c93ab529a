// Private: what run() and LoopGroup share — the SIGINT watch on the main task and the end of a
// loop's life (the grace period, closing an owned uv_loop_t).
#pragma once

#include <uv.h>

#include <chrono>

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

/// SIGINT → cancel main ("SIGINT", kind signal); a second SIGINT → default disposition, re-raise.
/// Its handle is closed with the loop's other handles (`close_owned_loop`): it must live until
/// then.
struct SigintWatch {
    uv_signal_t handle{};
    TaskState* main = nullptr;
    LoopCore* core = nullptr;  // told of the SIGINT (`note_sigint`, for `end_if_interrupted`)
    bool seen = false;

    /// Starts watching on `loop_core`'s loop (unreferenced: it never keeps the loop alive).
    /// Loop thread.
    void start(LoopCore& loop_core, TaskState& main_task) noexcept;
    static void on_signal(uv_signal_t* handle, int signum) noexcept;
};

/// Closes every handle still open on `loop`, runs it until their close callbacks ran, and
/// closes it. Returns `uv_loop_close`'s result.
int close_owned_loop(uv_loop_t* loop) noexcept;

/// Lets the loops of a group end their grace together (see `cancel_and_await_leftovers`).
class GraceGroup {
public:
    /// Called on each turn of the grace loop with whether this loop has no task left; true
    /// while another loop of the group still has tasks (this one then keeps waiting, and takes
    /// in what the others' cleanup hands it). Loop thread.
    [[nodiscard]] virtual bool others_busy(bool idle_here) noexcept = 0;

protected:
    ~GraceGroup() = default;
};

/// The first half of a shutdown (run()'s grace rule): cancels every task left (kind
/// `shutdown`; again for tasks spawned meanwhile) and runs the loop until they have all ended —
/// and, in a group, until every loop's have — or until `grace` has passed. Loop thread.
void cancel_and_await_leftovers(LoopCore& core, std::chrono::milliseconds grace,
                                GraceGroup* group = nullptr) noexcept;

}  // namespace uvtask::detail
