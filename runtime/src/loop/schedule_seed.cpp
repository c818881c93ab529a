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

}  // namespace

// Every task ready now is "equally ready": the round is the whole queue, put in a random order
// (Fisher–Yates); a task made ready while the round runs (woken, spawned, yielding) is queued
// behind it and runs in a later round — so a yielding task cannot starve the others.
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
    for (std::size_t i = round_scratch_.size(); i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(next_random(schedule_state_) % i);
        std::swap(round_scratch_[i - 1], round_scratch_[j]);
    }
    for (std::size_t i = 0; i + 1 < round_scratch_.size(); ++i) {
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
