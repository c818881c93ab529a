// The fuzzer's vocabulary: what a program is made of, shared by the decoder, the reference model
// and the real execution. A program is a list of steps run by a driver task; most steps command a
// "puppet" (a spawned task that waits for commands, non-cancellably, and runs each one as an
// operation of uvtask's API), the others act on puppets directly (cancel one, from the loop
// thread or from another thread, expire its deadline, push/pop/unlock from the driver).
// tests/fuzz/README.md describes the language and what is checked.
#pragma once

#include <uvtask/errors.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace uvtask::fuzz {

/// An operation a puppet runs when commanded. Scope operations open a nested block: the commands
/// that follow run inside it until `end`, which closes it with a value.
enum class Op : std::uint8_t {
    end,              // close the innermost block with `value` (the puppet's body at depth 0)
    sleep_forever,    // sleep(1 h): ends only when cancelled
    sleep_short,      // sleep(a ms)
    yield,            // a x yield_now()
    checkpoints,      // a iterations of a little work and checkpoint()
    checkpoint_spin,  // checkpoint() in a loop until cancelled (and yield_now() every 256)
    push,             // co_await queue[a].push(value)
    pop,              // co_await queue[a].pop()
    try_push,         // queue[a].try_push(value)
    try_pop,          // queue[a].try_pop()
    lock,             // co_await lock[a].lock()
    unlock,           // lock[a].unlock()
    join,             // co_await handle of puppet a
    shield,           // co_await shield(handle of puppet a)
    wait_for_handle,  // wait_for(handle of puppet a, dur)
    wait_for_task,    // wait_for(a new puppet's Task, dur)
    wait_for_op,      // wait_for(sleep(1 h) | queue[a].pop() | lock[a].lock(), dur); b = which
    gather,           // gather of the new puppets `children` (b: 0 as Tasks, 1 as handles)
    group_spawn,      // spawn the new puppet children[0] into the innermost task group
    probe,            // log cancelling() and cancel_requested()
    uncancel,         // this_task::uncancel()
    cancel_self,      // cancel(msg) on the puppet's own handle
    cancel_other,     // cancel(msg) on puppet a's handle
    raise,            // throw std::runtime_error("boom")
    expire_own,       // reschedule the innermost Deadline scope to the past
    scope_catch,      // try { block } catch (...) { log what came out }
    scope_nc,         // non_cancellable(block)
    scope_timeout,    // with_timeout(dur, block)
    scope_move_on,    // move_on_after(dur, block)
    scope_deadline,   // Deadline::never().run(block), expirable by expire_own / expire
    scope_group,      // task_group(block)
    count
};

/// A timeout of the operations that take one: 0 (expired when the work starts), never (1 h), or
/// a few milliseconds of real time (`short_ms`; only where the result cannot depend on when it
/// fires — see the decoder).
enum class Dur : std::uint8_t { zero, never, short_ms };

/// What the driver does in one step.
enum class StepKind : std::uint8_t {
    spawn,          // spawn puppet `target` (b: 1 = cancel it at once, before its body runs)
    command,        // send `cmd` to puppet `target`
    cancel,         // handle.cancel(msg, kind) of puppet `target`, on the loop thread
    remote_cancel,  // the same from another thread; the driver waits for it, then settles
    remote_race,    // command `cmd` and, at the same time, cancel from another thread
    expire,         // reschedule puppet `target`'s innermost Deadline scope to the past
    driver_push,    // queue[a].try_push(value) from the driver; then maybe cancel (b)
    driver_pop,     // queue[a].try_pop() from the driver; then maybe cancel (b)
    driver_unlock,  // lock[a].unlock() from the driver; then maybe cancel (b)
    close_queue,    // queue[a].close()
    time_slice,     // Loop::set_time_slice(0 | 20 us | 1 h)
};

struct Command {
    Op op = Op::end;
    int seq = 0;    // the step number; every log line of the puppet names it
    int a = 0;      // operand: queue, lock, puppet, count or milliseconds
    int b = 0;      // second operand
    int value = 0;  // end: the block's value; push: the item
    Dur dur = Dur::never;
    std::string msg;            // cancel_self / cancel_other
    std::vector<int> children;  // new puppets made by the operation
};

struct Step {
    StepKind kind = StepKind::command;
    int target = -1;  // a puppet
    int a = 0;
    int b = 0;
    int value = 0;
    std::string msg;
    CancelKind cancel_kind = CancelKind::user;
    int then_cancel = -1;  // driver_push/pop/unlock: the puppet cancelled right after, same tick
    Command cmd;
};

/// The queues and locks every program has.
inline constexpr int queue_count = 2;
inline constexpr int lock_count = 2;

[[nodiscard]] const char* op_name(Op op) noexcept;
[[nodiscard]] std::string describe(const Command& cmd);
[[nodiscard]] std::string describe(const Step& step);

/// How an exception is written in the logs, the same for the model and the real run. The
/// message of a CancelledError is shown only when user code chose it (kinds user and signal).
[[nodiscard]] std::string cancelled_text(const std::string& message, CancelKind kind);

}  // namespace uvtask::fuzz
