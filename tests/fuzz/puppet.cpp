// Puppets: each command runs as one uvtask operation; scopes run a nested block of commands.
// GCC 12's coroutine rules are kept (one co_await per statement, bound to a named local).
#include "puppet.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

namespace uvtask::fuzz {

using namespace std::chrono_literals;

std::string describe(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const CancelledError& e) {
        return cancelled_text(e.message(), e.kind());
    } catch (const TimeoutError&) {
        return "timeout";
    } catch (const QueueClosedError&) {
        return "closed";
    } catch (const InvalidStateError&) {
        return "invalid";
    } catch (const ExceptionGroup& g) {
        std::string out = "group[";
        for (std::size_t i = 0; i < g.exceptions().size(); ++i) {
            out += (i == 0 ? "" : ",") + describe(g.exceptions()[i]);
        }
        return out + "]";
    } catch (const std::runtime_error& e) {
        return std::string(e.what()) == "boom" ? "boom" : std::string("other:") + e.what();
    } catch (const std::exception& e) {
        return std::string("other:") + e.what();
    } catch (...) {
        return "unknown";
    }
}

namespace {

std::chrono::milliseconds duration_of(Dur dur) {
    switch (dur) {
        case Dur::zero: return 0ms;
        case Dur::never: return std::chrono::hours(1);
        case Dur::short_ms: return 1ms;
    }
    return 0ms;
}

Task<Command> next_command(Puppet* p) {
    Command c = co_await p->commands.pop();
    co_return c;
}

void busy_work() {
    volatile unsigned sink = 0;
    for (unsigned k = 0; k < 64; ++k) {
        sink = sink + k;
    }
}

// Registers a scope's Deadline or TaskGroup with its puppet while the scope runs.
template <class T>
class Registration {
public:
    Registration(std::vector<T*>& list, T* item) : list_(list) { list_.push_back(item); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration() { list_.pop_back(); }

private:
    std::vector<T*>& list_;
};

}  // namespace

World::World(std::size_t capacity0, std::size_t capacity1) : q0_(capacity0), q1_(capacity1) {}

Puppet& World::puppet(int id) {
    while (puppets_.size() <= static_cast<std::size_t>(id)) {
        auto p = std::make_unique<Puppet>();
        p->id = static_cast<int>(puppets_.size());
        p->name = "P" + std::to_string(p->id);
        puppets_.push_back(std::move(p));
    }
    return *puppets_[static_cast<std::size_t>(id)];
}

void World::note(Puppet* p, int seq, const std::string& text) {
    p->log.push_back(std::to_string(seq) + ":" + text);
    trace.push_back(p->name + ":" + p->log.back());
}

Task<int> World::body(Puppet* p) {
    p->started = true;
    try {
        const int value = co_await block(p);
        p->phase = Phase::ended;
        p->end = "value " + std::to_string(value);
        co_return value;
    } catch (...) {
        p->phase = Phase::ended;
        p->end = describe(std::current_exception());
        throw;
    }
}

Task<int> World::block(Puppet* p) {
    for (;;) {
        p->phase = Phase::idle;
        Command c = co_await non_cancellable(next_command(p));
        p->phase = Phase::in_op;
        p->seq = c.seq;
        if (c.op == Op::end) {
            co_return c.value;
        }
        co_await run(p, std::move(c));
    }
}

Task<void> World::run(Puppet* p, Command c) {
    const int a = c.a;
    switch (c.op) {
        case Op::sleep_forever: co_await sleep(std::chrono::hours(1)); break;
        case Op::sleep_short: co_await sleep(std::chrono::milliseconds(a)); break;
        case Op::yield:
            for (int i = 0; i < a; ++i) {
                co_await yield_now();
            }
            note(p, c.seq, "yielded");
            co_return;
        case Op::checkpoints:
            for (int i = 0; i < a; ++i) {
                busy_work();
                co_await checkpoint();
            }
            note(p, c.seq, "checkpoints");
            co_return;
        case Op::checkpoint_spin:
            // With a time slice of an hour checkpoint() never yields: yield now and then, so
            // that the loop (and the driver) keep running.
            for (unsigned i = 1;; ++i) {
                busy_work();
                co_await checkpoint();
                if (i % 256 == 0) {
                    co_await yield_now();
                }
            }
        case Op::push:
            co_await queue(a).push(c.value);
            ++pushed[c.value];
            note(p, c.seq, "pushed");
            co_return;
        case Op::pop: {
            const int v = co_await queue(a).pop();
            ++popped[v];
            note(p, c.seq, "pop=" + std::to_string(v));
            co_return;
        }
        case Op::try_push: {
            const bool added = queue(a).try_push(c.value);
            pushed[c.value] += added ? 1 : 0;
            note(p, c.seq, std::string("try_push=") + (added ? "1" : "0"));
            co_return;
        }
        case Op::try_pop: {
            const std::optional<int> v = queue(a).try_pop();
            if (v) {
                ++popped[*v];
            }
            note(p, c.seq, "try_pop=" + (v ? std::to_string(*v) : std::string("none")));
            co_return;
        }
        case Op::lock:
            co_await lock(a).lock();
            note(p, c.seq, "locked");
            co_return;
        case Op::unlock:
            lock(a).unlock();
            note(p, c.seq, "unlocked");
            co_return;
        case Op::probe:
            note(p, c.seq,
                 "probe=" + std::to_string(this_task::cancelling()) + "," +
                     (this_task::cancel_requested() ? "1" : "0"));
            co_return;
        case Op::uncancel: {
            const int n = this_task::uncancel();
            note(p, c.seq, "uncancel=" + std::to_string(n));
            co_return;
        }
        case Op::cancel_self:
        case Op::cancel_other: {
            const Puppet& target = c.op == Op::cancel_self ? *p : puppet(a);
            const bool r = target.handle.cancel(c.msg);
            note(p, c.seq, std::string("cancel=") + (r ? "1" : "0"));
            co_return;
        }
        case Op::raise: throw std::runtime_error("boom");
        case Op::expire_own:
            p->deadlines.back()->reschedule(Deadline::Clock::now() - 1s);
            note(p, c.seq, "expired");
            co_return;
        case Op::group_spawn: {
            Puppet& child = puppet(c.children.at(0));
            child.handle = p->groups.back()->spawn(body(&child), child.name);
            note(p, c.seq, "spawned");
            co_return;
        }
        case Op::join:
        case Op::shield:
        case Op::wait_for_handle:
        case Op::wait_for_task:
        case Op::wait_for_op:
        case Op::gather: co_await run_wait(p, std::move(c)); co_return;
        default: co_await run_scope(p, std::move(c)); co_return;
    }
    note(p, c.seq, "slept");  // the two sleeps
}

Task<void> World::run_wait(Puppet* p, Command c) {
    const int a = c.a;
    const auto timeout = duration_of(c.dur);
    switch (c.op) {
        case Op::join: {
            const int v = co_await puppet(a).handle;
            note(p, c.seq, "join=" + std::to_string(v));
            co_return;
        }
        case Op::shield: {
            const int v = co_await shield(puppet(a).handle);
            note(p, c.seq, "shield=" + std::to_string(v));
            co_return;
        }
        case Op::wait_for_handle: {
            const int v = co_await wait_for(puppet(a).handle, timeout);
            note(p, c.seq, "wait_for(join=" + std::to_string(v) + ")");
            co_return;
        }
        case Op::wait_for_task: {
            // The model's wait_for on a new task: the child is a task of its own (spawned here,
            // its handle not shared), cancelled and waited for on expiry. (wait_for on a Task
            // runs it inline in the awaiting task; the spawned form is the one modelled.)
            Puppet& child = puppet(c.children.at(0));
            TaskHandle<int> own = spawn(body(&child), child.name);
            const int v = co_await wait_for(own, timeout);
            note(p, c.seq, "wait_for(join=" + std::to_string(v) + ")");
            co_return;
        }
        case Op::wait_for_op:
            if (c.b == 0) {
                co_await wait_for(sleep(std::chrono::hours(1)), timeout);
                note(p, c.seq, "wait_for(slept)");
            } else if (c.b == 1) {
                const int v = co_await wait_for(queue(a).pop(), timeout);
                ++popped[v];
                note(p, c.seq, "wait_for(pop=" + std::to_string(v) + ")");
            } else {
                co_await wait_for(lock(a).lock(), timeout);
                note(p, c.seq, "wait_for(locked)");
            }
            co_return;
        case Op::gather: {
            std::vector<int> values;
            if (c.b == 0) {
                std::vector<Task<int>> tasks;
                for (const int id : c.children) {
                    tasks.push_back(body(&puppet(id)));
                }
                values = co_await gather(std::move(tasks));
            } else {
                std::vector<TaskHandle<int>> handles;
                for (const int id : c.children) {
                    Puppet& child = puppet(id);
                    child.handle = spawn(body(&child), child.name);
                    handles.push_back(child.handle);
                }
                values = co_await gather(std::move(handles));
            }
            std::string text = "gather=[";
            for (std::size_t i = 0; i < values.size(); ++i) {
                text += (i == 0 ? "" : ",") + std::to_string(values[i]);
            }
            note(p, c.seq, text + "]");
            co_return;
        }
        default: co_return;
    }
}

Task<void> World::run_scope(Puppet* p, Command c) {
    const auto timeout = duration_of(c.dur);
    switch (c.op) {
        case Op::scope_catch: {
            std::string text;
            try {
                const int v = co_await block(p);
                text = "catch=" + std::to_string(v);
            } catch (...) {
                text = "caught " + describe(std::current_exception());
            }
            note(p, c.seq, text);
            co_return;
        }
        case Op::scope_nc: {
            const int v = co_await non_cancellable(block(p));
            note(p, c.seq, "nc=" + std::to_string(v));
            co_return;
        }
        case Op::scope_timeout: {
            const int v = co_await with_timeout(timeout, block(p));
            note(p, c.seq, "timeout=" + std::to_string(v));
            co_return;
        }
        case Op::scope_move_on: {
            const std::optional<int> v = co_await move_on_after(timeout, block(p));
            note(p, c.seq, "move_on=" + (v ? std::to_string(*v) : std::string("none")));
            co_return;
        }
        case Op::scope_deadline: {
            Deadline deadline = Deadline::never();
            Registration<Deadline> registered(p->deadlines, &deadline);
            const int v = co_await deadline.run(block(p));
            note(p, c.seq, "deadline=" + std::to_string(v));
            co_return;
        }
        case Op::scope_group: {
            auto body_of_group = [this, p](TaskGroup& group) -> Task<int> {
                return group_body(p, &group);
            };
            const int v = co_await task_group(body_of_group);
            note(p, c.seq, "group=" + std::to_string(v));
            co_return;
        }
        default: co_return;
    }
}

Task<int> World::group_body(Puppet* p, TaskGroup* group) {
    Registration<TaskGroup> registered(p->groups, group);
    const int v = co_await block(p);
    co_return v;
}

}  // namespace uvtask::fuzz
