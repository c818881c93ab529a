// The real side of a fuzz program: puppets are spawned uvtask tasks that wait for commands (a
// Queue pop inside non_cancellable, so a cancel that reaches an idle puppet is held back and
// thrown at the first suspension point of its next operation) and run each one with uvtask's
// public API. What a puppet sees is written to its log in the model's words (model.hpp).
#pragma once

#include <uvtask/uvtask.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model.hpp"
#include "program.hpp"

namespace uvtask::fuzz {

struct Puppet {
    int id = 0;
    std::string name;
    TaskHandle<int> handle;  // empty for the children gather and wait_for spawn themselves
    Queue<Command> commands;
    std::vector<std::string> log;
    Phase phase = Phase::not_started;
    int seq = -1;
    bool started = false;
    std::optional<std::string> end;    // "value N" or the exception's text
    std::vector<Deadline*> deadlines;  // the Deadline scopes it is in, innermost last
    std::vector<TaskGroup*> groups;    // the task groups whose body it runs, innermost last
};

/// The exception `error` holds, written as the model writes an `Exc`.
[[nodiscard]] std::string describe(const std::exception_ptr& error);

class World {
public:
    World(std::size_t capacity0, std::size_t capacity1);
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    /// The record of puppet `id`, made on first use (ids are handed out in order by the model).
    Puppet& puppet(int id);
    [[nodiscard]] std::size_t size() const noexcept { return puppets_.size(); }
    /// The body of a puppet: runs its commands until its outermost block ends.
    Task<int> body(Puppet* p);

    Queue<int>& queue(int q) noexcept { return q == 0 ? q0_ : q1_; }
    Lock& lock(int l) noexcept { return locks_[l]; }

    /// Every item a push reported added, and every item a pop returned (no item lost or
    /// duplicated: checked at the end against what is left in the queues).
    std::map<int, int> pushed;
    std::map<int, int> popped;
    /// Every log line of every puppet in the order written: the run's interleaving.
    std::vector<std::string> trace;

private:
    Task<int> block(Puppet* p);
    Task<void> run(Puppet* p, Command c);
    Task<void> run_scope(Puppet* p, Command c);
    Task<void> run_wait(Puppet* p, Command c);
    Task<int> group_body(Puppet* p, TaskGroup* group);
    void note(Puppet* p, int seq, const std::string& text);

    Queue<int> q0_;
    Queue<int> q1_;
    Lock locks_[lock_count];
    std::vector<std::unique_ptr<Puppet>> puppets_;
};

}  // namespace uvtask::fuzz
