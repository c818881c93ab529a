// Bytes to steps. Each step is decoded against the model's current state, so that every input
// decodes to a valid program: a byte that picks a target picks among the puppets that can take
// the step, and an operation that would hang the wind-down (a sleep that nothing can cancel) or
// make the outcome depend on timing is never produced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "model.hpp"
#include "program.hpp"

namespace uvtask::fuzz {

inline constexpr int max_steps = 40;
inline constexpr int max_puppets = 24;
inline constexpr int max_depth = 4;

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
