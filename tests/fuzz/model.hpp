// The reference model: a small interpreter of what docs/semantics.md says a program of puppet
// commands does — cancel requests and their delivery at suspension points, non_cancellable,
// deadlines (asyncio.timeout's exit rule), joins that pass a cancel on, shield, gather, task
// groups, queues and locks — with no threads, no libuv and no real time. The driver applies every
// step to the model and to the real runtime and compares the puppets' logs, their cancelling()
// counts, which ended cancelled, and the values that arrived.
//
// The model is exact because programs are built so that the outcome does not depend on timing:
// puppets act only when commanded and the driver waits for quiescence between steps; real timers
// are used only where nothing else can happen until they fire; the one source of real
// nondeterminism, a cancel from another thread racing with an operation, is modelled by forking
// the model into both outcomes and keeping the one the real run shows (`Model` is a value).
//
// Faults of the runtime that the fuzzer reached can be mirrored behind a flag of `KnownFaults`
// (so that CI stays green until the runtime is fixed); by default the model expects the contract.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "program.hpp"

namespace uvtask::fuzz {

/// Faults the runtime had, that the fuzzer reaches: with a flag set, the model expects the old
/// behaviour (to run the fuzzer against a runtime that still has it); off by default, as the
/// contract says. Each has a seed in tests/fuzz/corpus that fails with the flag off on a runtime
/// with the fault, and with the flag on on one without.
struct KnownFaults {
    /// Fault 2: a task group whose body received the outer CancelledError and whose children
    /// failed throws ExceptionGroup and then re-arms that cancel: the task's next suspension
    /// point throws it a second time (§3.4: one delivery per request).
    bool group_redelivers_cancel = false;
    /// Fault 3: a body ending with a CancelledError that was not a request to the task made the
    /// group cancel its children with the task's stale message and kind instead of kind parent.
    bool group_forwards_stale_cancel = false;
    /// Fault A (found by this fuzzer; tests/fuzz/README.md): a deadline or task group whose
    /// request was followed by another request — even one withdrawn since, such as an inner
    /// wait_for's expiry — keeps its own undelivered request pending when it withdraws it, so a
    /// stray CancelledError (kind timeout) hits the task's next suspension point. The runtime
    /// tells "a newer request" by a sequence number; the contract needs one still outstanding.
    bool scope_keeps_request_after_withdrawn_newer = false;
};

struct Exc {
    enum class Type : std::uint8_t { cancelled, timeout, boom, closed, invalid, group };
    Type type = Type::boom;
    std::string msg;  // cancelled
    CancelKind kind = CancelKind::user;
    std::vector<std::string> members;  // group: each member's text, in order
    [[nodiscard]] std::string text() const;
};

struct Result {
    bool ok = true;
    int value = 0;
    std::string text;  // ok: the log line's text
    Exc exc;
    static Result of(int value, std::string text = {});
    static Result error(Exc exc);
};

enum class Phase : std::uint8_t { not_started, idle, in_op, ended };

/// A Deadline (of a scope or of a wait_for): asyncio.timeout's bookkeeping.
struct DeadlineState {
    bool expired = false;
    bool pending_at_fire = false;
    bool left = false;
    bool timer = false;  // a real-time timer is armed
    int at_entry = 0;
    int after_fire = 0;
    int sequence_at_fire = 0;  // the task's requests after ours (KnownFaults, fault A)
};

/// The watched children of a gather or a task group.
struct ChildSet {
    struct Rec {
        int pid = 0;
        bool cancelled = false;  // cancelled by the set
    };
    std::vector<Rec> live;
    bool cancelling = false;
    bool forwarded = false;  // cancelling with the owner's request (else msg/kind)
    bool cancel_reached = false;
    std::string msg;
    CancelKind kind = CancelKind::parent;
};

struct GroupState {
    ChildSet set;
    std::vector<std::string> errors;
    int at_entry = 0;
    int after_ours = 0;
    int deliveries_at_entry = 0;
    int sequence_at_ours = 0;
    bool pending_at_ours = false;
    bool body_running = true;
    bool parent_cancel_requested = false;
    bool propagate_cancel = false;
    Result body;
};

struct Scope {
    Op kind = Op::scope_catch;
    int seq = 0;
    DeadlineState dl;
    GroupState group;
};

enum class Wait : std::uint8_t {
    none,
    sleep,
    sleep_short,
    yield,
    spin,
    push,
    pop,
    lock,
    join,
    shield,
    owned_join,
    gather,
    group_end
};
enum class Status : std::uint8_t { waiting, completed, cancelled, closed };

/// What a puppet is doing inside an operation.
struct WaitState {
    Wait kind = Wait::none;
    Status status = Status::waiting;
    bool suspended = false;  // parked: a deliverable cancel runs the hook
    Op op = Op::end;
    int obj = 0;        // queue, lock, target puppet or scope index
    int remaining = 0;  // yield
    int value = 0;      // push: the item; pop: the item received
    bool handed = false;
    bool propagated = false;
    bool bounded = false;  // inside a wait_for: `dl` applies when it ends
    DeadlineState dl;
    ChildSet set;  // gather
    std::vector<int> gathered;
    std::optional<Exc> first_failure;
};

struct Joiner {
    enum class Kind : std::uint8_t { join, set_gather, set_group };
    int pid = 0;
    Kind kind = Kind::join;
    int scope = 0;  // set_group: the owner's scope index
};

struct MPuppet {
    int id = 0;
    bool has_handle = false;
    Phase phase = Phase::not_started;
    bool ran = false;  // its body started (false: cancelled before it first ran)
    int seq = -1;      // the last command's step
    int cancelling = 0;
    int deliveries = 0;  // CancelledErrors thrown into it (requests consumed as delivered)
    int requests = 0;    // cancel requests made (true returned), withdrawn or not
    bool pending = false;
    std::string msg;
    CancelKind kind = CancelKind::user;
    int hold = 0;
    std::vector<Scope> scopes;
    WaitState wait;
    Result end;
    std::vector<Joiner> joiners;
    std::vector<std::string> log;
    [[nodiscard]] std::string name() const { return "P" + std::to_string(id); }
    [[nodiscard]] bool ended_cancelled() const {
        return phase == Phase::ended && !end.ok && end.exc.type == Exc::Type::cancelled;
    }
};

struct MQueue {
    std::size_t capacity = SIZE_MAX;
    std::deque<int> items;
    std::deque<int> poppers;
    std::deque<std::pair<int, int>> pushers;  // puppet, item
    bool closed = false;
};

struct MLock {
    bool locked = false;
    std::deque<int> waiters;
};

/// What the driver itself should see in a step.
struct Expect {
    std::optional<bool> cancel_result;  // cancel / remote_cancel / then_cancel
    std::string driver_result;          // driver_push / driver_pop
};

class Model {
public:
    /// At most `max_puppets` puppets (decoder.hpp): references into the list stay valid.
    Model(std::size_t capacity0, std::size_t capacity1, KnownFaults faults);

    /// Applies `step` and runs the model until nothing can move without the driver.
    Expect apply(const Step& step);
    /// remote_race, one outcome of the race between the operation and the cancel from another
    /// thread (which the loop sees only at suspension points, but which may land at any
    /// instant):
    ///   0: it lands before the operation's first suspension point, or inside the operation
    ///      (the same outcome: the operation throws it);
    ///   1: it lands once the puppet is quiet again (a pending request; false if it ended);
    ///   2: it lands after the operation, while the puppet's body is ending: true and counted,
    ///      never delivered. False if the puppet does not end in this step (no such outcome).
    /// The decoder races only operations whose end leads straight to the next command or to
    /// the end of the body (depth 0, or right inside a catch scope), so no other landing
    /// point can change what happens.
    std::optional<Expect> apply_race(const Step& step, int outcome);

    [[nodiscard]] const std::vector<MPuppet>& puppets() const noexcept { return p_; }
    [[nodiscard]] const MQueue& queue(int q) const noexcept { return q_[q]; }
    [[nodiscard]] const MLock& lock(int l) const noexcept { return l_[l]; }
    /// The puppet's innermost Deadline scope that can still be expired, or -1.
    [[nodiscard]] int expirable_deadline(int pid) const noexcept;
    [[nodiscard]] std::string state_text() const;

private:
    // core (model.cpp)
    bool request_cancel(int pid, const std::string& msg, CancelKind kind, bool keep = false);
    void hook(int pid);
    void wake(int pid, Status status);
    Exc take_cancel(int pid);
    int uncancel(int pid);
    bool deliverable(int pid) const;
    void run_until_quiet();
    void resume(int pid);
    void op_done(int pid, Result r);
    void go_idle(int pid);
    void block_done(int pid, Result r);
    void task_end(int pid, Result r);
    void log(int pid, int seq, const std::string& text);
    int spawn(int pid, bool has_handle);
    // operations (model_ops.cpp)
    void start_op(int pid, const Command& cmd);
    bool sp(int pid);
    // queues and locks (model_steps.cpp)
    void put(int q, int value);
    int take(int q);
    void release(int l);
    void close(int q);
    void owned_join(int pid, int target);
    void bounded_finish(int pid, Result inner);
    Result result_of(int target) const;
    // scopes (model_scopes.cpp)
    void dl_enter(int pid, DeadlineState& dl, Dur dur);
    void dl_expire(int pid, DeadlineState& dl);
    enum class Exit : std::uint8_t { deliver, timed_out, deliver_pending };
    Exit dl_leave(int pid, DeadlineState& dl, bool failed, bool is_cancel);
    void cancel_children(ChildSet& set, int owner, const std::string& msg, CancelKind kind);
    void forward_cancel(ChildSet& set, int owner);
    void cancel_one(ChildSet& set, int owner, ChildSet::Rec& rec);
    void child_done(const Joiner& joiner, int child);
    void group_body_ended(int pid, Result r);
    void group_conclude(int pid);
    void gather_conclude(int pid);
    ChildSet& set_of(int pid, const Joiner& joiner);

    struct Ready {
        enum class Kind : std::uint8_t { start, command, resume };
        int pid = 0;
        Kind kind = Kind::resume;
        Command cmd;
    };
    std::vector<MPuppet> p_;
    MQueue q_[queue_count];
    MLock l_[lock_count];
    std::deque<Ready> ready_;
    std::vector<int> timers_;  // puppets with a real-time timer armed, in arming order
    KnownFaults faults_;
};

}  // namespace uvtask::fuzz
