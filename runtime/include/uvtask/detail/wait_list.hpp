// uvtask internals — the intrusive FIFO of tasks waiting on a synchronisation primitive.
#pragma once

#include <cstddef>

namespace uvtask::detail {

/// A node of a `WaitList`, living in the waiting task's awaiter (no allocation to wait).
struct WaitNode {
    WaitNode* prev = nullptr;
    WaitNode* next = nullptr;
    bool linked = false;
};

/// A FIFO of waiters: O(1) append, removal from anywhere (a cancelled waiter unlinks itself),
/// and pop from the front. Loop thread only.
class WaitList {
public:
    WaitList() noexcept = default;
    WaitList(const WaitList&) = delete;
    WaitList& operator=(const WaitList&) = delete;

    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] WaitNode* front() const noexcept { return head_; }

    void push_back(WaitNode* node) noexcept {
        node->next = nullptr;
        node->prev = tail_;
        if (tail_ != nullptr) {
            tail_->next = node;
        } else {
            head_ = node;
        }
        tail_ = node;
        node->linked = true;
        ++size_;
    }
    void remove(WaitNode* node) noexcept {
        if (!node->linked) {
            return;
        }
        (node->prev != nullptr ? node->prev->next : head_) = node->next;
        (node->next != nullptr ? node->next->prev : tail_) = node->prev;
        node->prev = node->next = nullptr;
        node->linked = false;
        --size_;
    }
    /// Unlinks and returns the first waiter, or null.
    WaitNode* pop_front() noexcept {
        WaitNode* node = head_;
        if (node != nullptr) {
            remove(node);
        }
        return node;
    }

private:
    WaitNode* head_ = nullptr;
    WaitNode* tail_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace uvtask::detail
