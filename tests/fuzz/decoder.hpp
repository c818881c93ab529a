// Bytes to steps. Each step is decoded against the model's current state, so that every input
// decodes to a valid program: a byte that picks a target picks among the puppets that can take
// the step, and an operation that would hang the wind-down (a sleep that nothing can cancel) or
// make the outcome depend on timing is never produced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "model.hpp"
#include "program.hpp"

namespace uvtask::fuzz {

inline constexpr int max_steps = 40;
inline constexpr int max_puppets = 24;
inline constexpr int max_depth = 4;

namespace decode {

/// The idle puppets, in id order.
inline std::vector<int> idle_puppets(const Model& model) {
    std::vector<int> out;
    for (const MPuppet& p : model.puppets()) {
        if (p.phase == Phase::idle) {
            out.push_back(p.id);
        }
    }
    return out;
}

inline std::vector<int> with_handle(const Model& model, int above) {
    std::vector<int> out;
    for (const MPuppet& p : model.puppets()) {
        if (p.has_handle && p.id > above) {
            out.push_back(p.id);
        }
    }
    return out;
}

inline int pick(const std::vector<int>& from, std::uint8_t byte) {
    return from[static_cast<std::size_t>(byte) % from.size()];
}

/// Queue or lock 0 three times in four: tasks meet on it.
/// True if wait_for_op's operation `which` (0 sleep(1h), 1 pop, 2 lock) on queue or lock `a`
/// would wait: the sleep, a pop of an empty queue with no push waiting, a lock that is locked.
inline bool blocks(const Model& model, int which, int a) {
    if (which == 1) {
        return model.queue(a).items.empty() && model.queue(a).pushers.empty();
    }
    return which == 0 || model.lock(a).locked;
}

inline int object_of(std::uint8_t byte) { return byte % 4 == 3 ? 1 : 0; }

}  // namespace decode

class Decoder {
public:
    Decoder(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

    /// The capacities of the two queues (from the first byte).
    [[nodiscard]] std::size_t capacity(int q);
    /// The next step, or nothing once the input or the step budget is used up.
    std::optional<Step> next(const Model& model);
    /// A step of the wind-down: what makes the first unfinished puppet (highest id first) move
    /// on, or nothing once every puppet has ended.
    std::optional<Step> wind_down(const Model& model);

private:
    std::uint8_t byte() noexcept { return at_ < size_ ? data_[at_++] : 0; }
    [[nodiscard]] bool exhausted() const noexcept { return at_ >= size_; }
    std::optional<Command> command(const Model& model, int pid);
    std::optional<Step> race(const Model& model);
    std::string message();
    int new_item() noexcept { return next_item_++; }

    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
    int steps_ = 0;
    int next_item_ = 100;
    std::uint8_t header_ = 0;
    bool header_read_ = false;
};

}  // namespace uvtask::fuzz
