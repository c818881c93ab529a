// The schedule seed (docs/testing.md): the ready queue run in rounds, the order of each round
// shuffled by a deterministic PRNG seeded by the loop's seed, so that the same seed and the same
// program give the same interleaving.
#include <cstdint>
#include <cstddef>
#include <new>
#include <string>
#include <utility>

#include "uvtask/debug.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask {

namespace detail {

namespace {

// splitmix64 (Steele, Lea, Flood 2014): one add and three multiply-xorshifts per number; every
// seed gives a full-period sequence.
std::uint64_t next_random(std::uint64_t& state) noexcept {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// A task in the ready queue because it yields (`yield_now()`, `checkpoint()`).
bool yielding(const TaskState* task) noexcept {
    const Suspension* where = task->suspension();
    return where != nullptr && where->waits_on != nullptr && where->waits_on->queued;
}

}  // namespace

// A round is the whole queue, put in a random order (Fisher–Yates) within one rule: a yielding
// task runs after every task that was queued before it (docs/semantics.md §3.8). So the queue is
// cut into segments, each starting at a yielding task, and each segment is shuffled on its own
// (a task queued after a yield may run before the yielding task, never before an earlier
// segment). A task made ready while the round runs (woken, spawned, yielding) is queued behind
// the round and runs in a later one, so a yielding task cannot starve the others.
void LoopCore::shuffle_round() noexcept {
    round_scratch_.clear();
    try {
        for (TaskState* task = ready_head_; task != nullptr; task = task->next_ready) {
            round_scratch_.push_back(task);
        }
    } catch (const std::bad_alloc&) {
        round_end_ = ready_tail_;  // out of memory: this round runs in FIFO order
        return;
    }
    const std::size_t size = round_scratch_.size();
    for (std::size_t begin = 0; begin < size;) {
        std::size_t end = begin + 1;
        while (end < size && !yielding(round_scratch_[end])) {
            ++end;
        }
        for (std::size_t i = end - begin; i > 1; --i) {
            const auto j = static_cast<std::size_t>(next_random(schedule_state_) % i);
            std::swap(round_scratch_[begin + i - 1], round_scratch_[begin + j]);
        }
        begin = end;
    }
    for (std::size_t i = 0; i + 1 < size; ++i) {
        round_scratch_[i]->next_ready = round_scratch_[i + 1];
    }
    ready_head_ = round_scratch_.front();
    ready_tail_ = round_end_ = round_scratch_.back();
    ready_tail_->next_ready = nullptr;
}

void LoopCore::report_seed_if_failed(const TaskState& main) noexcept {
    if (schedule_seed_ == 0 || !main.done() || main.ending() == Ending::value) {
        return;
    }
    try {
        report({schedule_seed_note(schedule_seed_), main.name(), nullptr});
    } catch (...) {
        report({"schedule seed (out of memory naming it)", {}, nullptr});
    }
}

}  // namespace detail

void Loop::set_schedule_seed(std::uint64_t seed) noexcept { core_->set_schedule_seed(seed); }

std::uint64_t Loop::schedule_seed() const noexcept { return core_->schedule_seed(); }

std::string schedule_seed_note(std::uint64_t seed) {
    const std::string n = std::to_string(seed);
    return "schedule seed " + n + " (replay: UVTASK_SCHEDULE_SEED=" + n + ")";
}

}  // namespace uvtask
