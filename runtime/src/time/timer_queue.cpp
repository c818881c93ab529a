#include "time/timer_queue.hpp"

namespace uvtask::detail {

namespace {
constexpr std::uint64_t ns_per_ms = 1'000'000;
}  // namespace

TimerQueue::Bucket* TimerQueue::bucket_for(std::uint64_t ms) {
    if (last_used_ != nullptr && last_used_->ms == ms) {
        return last_used_;
    }
    if (auto found = by_ms_.find(ms); found != by_ms_.end()) {
        return last_used_ = found->second;
    }
    if (spare_.empty()) {
        spare_.reserve(storage_.size() + 1);  // drop_bucket() never allocates
        storage_.push_back(std::make_unique<Bucket>());
        spare_.push_back(storage_.back().get());
    }
    heap_.reserve(heap_.size() + 1);
    by_ms_.emplace(ms, spare_.back());  // may throw: nothing changed yet
    Bucket* bucket = spare_.back();
    spare_.pop_back();
    bucket->ms = ms;
    heap_.push_back(bucket);
    bucket->heap_index = heap_.size() - 1;
    sift_up(bucket->heap_index);
    return last_used_ = bucket;
}

bool TimerQueue::push(TimerNode* node) {
    // Due at the first whole millisecond at or after the deadline: never early.
    const std::uint64_t ms = (node->deadline_ns + ns_per_ms - 1) / ns_per_ms;
    const std::uint64_t earliest_before = heap_.empty() ? UINT64_MAX : earliest_ms();
    Bucket* bucket = bucket_for(ms);
    bucket->nodes.push_back(node);
    node->bucket = bucket;
    return ms < earliest_before;
}

bool TimerQueue::erase(TimerNode* node) noexcept {
    auto* bucket = static_cast<Bucket*>(node->bucket);
    bucket->nodes.remove(node);
    node->bucket = nullptr;
    if (!bucket->nodes.empty()) {
        return false;
    }
    const bool was_earliest = bucket->heap_index == 0;
    drop_bucket(bucket);
    return was_earliest;
}

TimerNode* TimerQueue::pop_due(std::uint64_t now_ms) noexcept {
    if (heap_.empty() || earliest_ms() > now_ms) {
        return nullptr;
    }
    TimerNode* node = heap_.front()->nodes.front();
    erase(node);
    return node;
}

void TimerQueue::clear() noexcept {
    while (!heap_.empty()) {
        (void)erase(heap_.front()->nodes.front());
    }
}

void TimerQueue::drop_bucket(Bucket* bucket) noexcept {
    by_ms_.erase(bucket->ms);
    if (last_used_ == bucket) {
        last_used_ = nullptr;
    }
    const std::size_t index = bucket->heap_index;
    Bucket* last = heap_.back();
    heap_.pop_back();
    if (last != bucket) {
        place(index, last);
        sift_down(index);
        sift_up(last->heap_index);
    }
    spare_.push_back(bucket);  // capacity reserved: storage_ grew with it
}

void TimerQueue::sift_up(std::size_t index) noexcept {
    Bucket* bucket = heap_[index];
    while (index > 0) {
        const std::size_t parent = (index - 1) / 2;
        if (heap_[parent]->ms <= bucket->ms) {
            break;
        }
        place(index, heap_[parent]);
        index = parent;
    }
    place(index, bucket);
}

void TimerQueue::sift_down(std::size_t index) noexcept {
    Bucket* bucket = heap_[index];
    const std::size_t count = heap_.size();
    for (;;) {
        std::size_t child = 2 * index + 1;
        if (child >= count) {
            break;
        }
        if (child + 1 < count && heap_[child + 1]->ms < heap_[child]->ms) {
            ++child;
        }
        if (heap_[child]->ms >= bucket->ms) {
            break;
        }
        place(index, heap_[child]);
        index = child;
    }
    place(index, bucket);
}

}  // namespace uvtask::detail
