// Private: a binary min-heap of timer deadlines (earliest first, FIFO among equals).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

/// The nodes live in the sleeping tasks' awaiters; the heap only holds pointers and keeps each
/// node's index current, so a cancelled sleep is removed in O(log n).
class TimerHeap {
public:
    [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
    [[nodiscard]] TimerNode* top() const noexcept { return nodes_.empty() ? nullptr : nodes_[0]; }

    /// Adds `node`; returns true if it became the earliest. Throws `std::bad_alloc`.
    bool push(TimerNode* node);
    /// Removes `node` (which must be in the heap); returns true if it was the earliest.
    bool erase(TimerNode* node) noexcept;

private:
    static bool earlier(const TimerNode* a, const TimerNode* b) noexcept {
        return a->deadline_ns != b->deadline_ns ? a->deadline_ns < b->deadline_ns
                                                : a->sequence < b->sequence;
    }
    void place(std::size_t index, TimerNode* node) noexcept {
        nodes_[index] = node;
        node->heap_index = index;
    }
    void sift_up(std::size_t index) noexcept;
    void sift_down(std::size_t index) noexcept;

    std::vector<TimerNode*> nodes_;
    std::uint64_t next_sequence_ = 0;
};

}  // namespace uvtask::detail
