#include "compare.hpp"

#include <sstream>

namespace uvtask::fuzz {

namespace {

std::string end_text(const MPuppet& m) {
    return m.end.ok ? "value " + std::to_string(m.end.value) : m.end.exc.text();
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& line : lines) {
        out += (out.empty() ? "" : " ") + line;
    }
    return out;
}

const char* phase_name(Phase phase) {
    static const char* const names[] = {"not started", "idle", "in op", "ended"};
    return names[static_cast<int>(phase)];
}

}  // namespace

bool same_places(World& world, const Model& model) {
    if (world.size() < model.puppets().size()) {
        return false;
    }
    for (const MPuppet& m : model.puppets()) {
        Puppet& r = world.puppet(m.id);
        if (r.handle.valid() && r.handle.done() != (m.phase == Phase::ended)) {
            return false;
        }
        if (!m.ran) {
            if (r.started || (m.phase == Phase::ended) != (!r.handle.valid() || r.handle.done())) {
                return false;
            }
            continue;
        }
        if (r.phase != m.phase || r.seq != m.seq || r.log.size() != m.log.size()) {
            return false;
        }
    }
    return true;
}

std::string differences(World& world, const Model& model) {
    std::ostringstream out;
    for (const MPuppet& m : model.puppets()) {
        Puppet& r = world.puppet(m.id);
        const std::string name = m.name();
        if (r.log != m.log) {
            out << name << " log: expected [" << joined(m.log) << "], got [" << joined(r.log)
                << "]\n";
        }
        if (m.ran != r.started) {
            out << name << (m.ran ? " did not run" : " ran, though cancelled before it started")
                << "\n";
        }
        if (m.phase != r.phase && m.ran) {
            out << name << " is " << phase_name(r.phase) << ", expected " << phase_name(m.phase)
                << "\n";
        }
        if (m.phase == Phase::ended && m.ran && r.end != end_text(m)) {
            out << name << " ended " << r.end.value_or("(not ended)") << ", expected "
                << end_text(m) << "\n";
        }
        if (!r.handle.valid()) {
            continue;
        }
        if (r.handle.cancelling() != m.cancelling) {
            out << name << " cancelling() " << r.handle.cancelling() << ", expected "
                << m.cancelling << "\n";
        }
        const bool ended = m.phase == Phase::ended;
        if (r.handle.done() != ended) {
            out << name << " done() " << r.handle.done() << ", expected " << ended << "\n";
        } else if (ended && r.handle.cancelled() != m.ended_cancelled()) {
            out << name << " cancelled() " << r.handle.cancelled() << ", expected "
                << m.ended_cancelled() << "\n";
        }
    }
    for (int q = 0; q < queue_count; ++q) {
        const MQueue& m = model.queue(q);
        Queue<int>& r = world.queue(q);
        if (r.size() != m.items.size() || r.waiting_pops() != m.poppers.size() ||
            r.waiting_pushes() != m.pushers.size() || r.closed() != m.closed) {
            out << "q" << q << ": " << r.size() << " items, " << r.waiting_pops() << " pops and "
                << r.waiting_pushes() << " pushes waiting" << (r.closed() ? ", closed" : "")
                << "; expected " << m.items.size() << ", " << m.poppers.size() << ", "
                << m.pushers.size() << (m.closed ? ", closed" : "") << "\n";
        }
    }
    for (int l = 0; l < lock_count; ++l) {
        const MLock& m = model.lock(l);
        Lock& r = world.lock(l);
        if (r.locked() != m.locked || r.waiters() != m.waiters.size()) {
            out << "l" << l << ": locked " << r.locked() << " with " << r.waiters()
                << " waiters; expected " << m.locked << " with " << m.waiters.size() << "\n";
        }
    }
    return out.str();
}

std::string real_state(World& world) {
    std::ostringstream out;
    for (std::size_t i = 0; i < world.size(); ++i) {
        Puppet& r = world.puppet(static_cast<int>(i));
        out << "  " << r.name << ": " << phase_name(r.phase) << " (step " << r.seq << ")";
        if (r.handle.valid()) {
            out << ", cancelling " << r.handle.cancelling() << (r.handle.done() ? ", done" : "");
        }
        if (r.end) {
            out << ", ended " << *r.end;
        }
        out << "\n";
    }
    return out.str();
}

std::string logs(World& world, const Model& model) {
    std::ostringstream out;
    for (const MPuppet& m : model.puppets()) {
        Puppet& r = world.puppet(m.id);
        out << "  " << m.name() << " expected: " << joined(m.log) << "\n";
        if (r.log != m.log) {
            out << "  " << m.name() << " real:     " << joined(r.log) << "\n";
        }
    }
    return out.str();
}

}  // namespace uvtask::fuzz
