#include "timer_heap.hpp"

namespace uvtask::detail {

bool TimerHeap::push(TimerNode* node) {
    node->sequence = next_sequence_++;
    nodes_.push_back(node);
    node->heap_index = nodes_.size() - 1;
    sift_up(node->heap_index);
    return node->heap_index == 0;
}

bool TimerHeap::erase(TimerNode* node) noexcept {
    const std::size_t index = node->heap_index;
    node->heap_index = SIZE_MAX;
    TimerNode* last = nodes_.back();
    nodes_.pop_back();
    if (last != node) {
        place(index, last);
        sift_down(index);
        sift_up(last->heap_index);
    }
    return index == 0;
}

void TimerHeap::sift_up(std::size_t index) noexcept {
    TimerNode* node = nodes_[index];
    while (index > 0) {
        const std::size_t parent = (index - 1) / 2;
        if (!earlier(node, nodes_[parent])) {
            break;
        }
        place(index, nodes_[parent]);
        index = parent;
    }
    place(index, node);
}

void TimerHeap::sift_down(std::size_t index) noexcept {
    TimerNode* node = nodes_[index];
    const std::size_t count = nodes_.size();
    for (;;) {
        std::size_t child = 2 * index + 1;
        if (child >= count) {
            break;
        }
        if (child + 1 < count && earlier(nodes_[child + 1], nodes_[child])) {
            ++child;
        }
        if (!earlier(nodes_[child], node)) {
            break;
        }
        place(index, nodes_[child]);
        index = child;
    }
    place(index, node);
}

}  // namespace uvtask::detail
