// Private: the loop's timers — deadlines grouped into one bucket per millisecond, the buckets in
// a min-heap. libuv timers have millisecond resolution anyway; grouping makes arming and
// cancelling a sleep O(1) (a list append / unlink) however many tasks sleep (S4 in bench/PROTOCOL.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "uvtask/detail/intrusive_list.hpp"
#include "uvtask/detail/timer_node.hpp"

namespace uvtask::detail {

class TimerQueue {
public:
    TimerQueue() = default;
    TimerQueue(const TimerQueue&) = delete;
    TimerQueue& operator=(const TimerQueue&) = delete;

    [[nodiscard]] bool empty() const noexcept { return heap_.empty(); }
    /// The earliest bucket's time in ms (when its timers are due: never before any deadline in
    /// it). Only when not empty.
    [[nodiscard]] std::uint64_t earliest_ms() const noexcept { return heap_.front()->ms; }

    /// Adds `node` (FIFO within its millisecond); true if the earliest time changed.
    /// Throws `std::bad_alloc`.
    bool push(TimerNode* node);
    /// Removes an armed `node`; true if the earliest time changed.
    bool erase(TimerNode* node) noexcept;
    /// Removes and returns the first timer due at `now_ms`, or null.
    [[nodiscard]] TimerNode* pop_due(std::uint64_t now_ms) noexcept;
    /// Removes every timer (each left unarmed).
    void clear() noexcept;

private:
    struct Bucket {
        std::uint64_t ms = 0;
        IntrusiveList<TimerNode, TimerNode> nodes;  // FIFO within the millisecond
        std::size_t heap_index = 0;
    };

    Bucket* bucket_for(std::uint64_t ms);
    void drop_bucket(Bucket* bucket) noexcept;
    void place(std::size_t index, Bucket* bucket) noexcept {
        heap_[index] = bucket;
        bucket->heap_index = index;
    }
    void sift_up(std::size_t index) noexcept;
    void sift_down(std::size_t index) noexcept;

    std::vector<Bucket*> heap_;
    std::unordered_map<std::uint64_t, Bucket*> by_ms_;
    Bucket* last_used_ = nullptr;  // bursts of sleeps mostly land in the same millisecond
    std::vector<std::unique_ptr<Bucket>> storage_;
    std::vector<Bucket*> spare_;
};

}  // namespace uvtask::detail
