// uvtask internals — the one intrusive doubly-linked list every part of the runtime uses (wait
// lists, joiners, live tasks, timers, watched work, processes…), like libuv's QUEUE.
#pragma once

#include <cstddef>

namespace uvtask::detail {

template <class T, class Tag>
class IntrusiveList;

/// The links a `T` needs to be in an `IntrusiveList<T, Tag>`. An object in several lists at once
/// derives from one `ListHook` per list, told apart by `Tag`. The hook lives in the object (an
/// awaiter, a task state): linking never allocates. Not copyable: a linked node must not move.
template <class Tag = void>
class ListHook {
public:
    ListHook() noexcept = default;
    ListHook(const ListHook&) = delete;
    ListHook& operator=(const ListHook&) = delete;

    /// True while the node is in a list.
    [[nodiscard]] bool linked() const noexcept { return linked_; }

private:
    template <class T, class ListTag>
    friend class IntrusiveList;
    ListHook* prev_ = nullptr;
    ListHook* next_ = nullptr;
    bool linked_ = false;
};

/// A FIFO list of nodes it does not own: O(1) append, O(1) removal of any node (a cancelled
/// waiter unlinks itself), pop from the front, iteration that tolerates removing the current
/// node. `T` derives from `ListHook<Tag>`. Not thread-safe: each list belongs to one thread (or
/// to whoever holds the lock that guards it).
template <class T, class Tag = void>
class IntrusiveList {
    using Hook = ListHook<Tag>;

public:
    IntrusiveList() noexcept = default;
    IntrusiveList(const IntrusiveList&) = delete;
    IntrusiveList& operator=(const IntrusiveList&) = delete;

    [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] T* front() const noexcept { return of(head_); }
    [[nodiscard]] T* back() const noexcept { return of(tail_); }
    /// The node after `node` in this list, or null.
    [[nodiscard]] static T* next(T* node) noexcept { return of(hook(node)->next_); }

    void push_back(T* node) noexcept {
        Hook* h = hook(node);
        h->next_ = nullptr;
        h->prev_ = tail_;
        (tail_ != nullptr ? tail_->next_ : head_) = h;
        tail_ = h;
        h->linked_ = true;
        ++size_;
    }
    void push_front(T* node) noexcept {
        Hook* h = hook(node);
        h->prev_ = nullptr;
        h->next_ = head_;
        (head_ != nullptr ? head_->prev_ : tail_) = h;
        head_ = h;
        h->linked_ = true;
        ++size_;
    }
    /// Unlinks `node` if it is linked (in this list: a node is in one list per tag).
    void remove(T* node) noexcept {
        Hook* h = hook(node);
        if (!h->linked_) {
            return;
        }
        (h->prev_ != nullptr ? h->prev_->next_ : head_) = h->next_;
        (h->next_ != nullptr ? h->next_->prev_ : tail_) = h->prev_;
        h->prev_ = h->next_ = nullptr;
        h->linked_ = false;
        --size_;
    }
    /// Unlinks and returns the first node, or null.
    T* pop_front() noexcept {
        T* node = front();
        if (node != nullptr) {
            remove(node);
        }
        return node;
    }
    /// Calls `f(node)` for every node, front to back; `f` may remove the node it is given.
    template <class F>
    void for_each(F&& f) {
        for (Hook* h = head_; h != nullptr;) {
            Hook* following = h->next_;
            f(of(h));
            h = following;
        }
    }
    /// Calls `f(node)` (a pointer to const) for every node, front to back.
    template <class F>
    void for_each(F&& f) const {
        for (const Hook* h = head_; h != nullptr; h = h->next_) {
            f(static_cast<const T*>(h));
        }
    }

private:
    static Hook* hook(T* node) noexcept { return static_cast<Hook*>(node); }
    static T* of(Hook* h) noexcept { return h != nullptr ? static_cast<T*>(h) : nullptr; }

    Hook* head_ = nullptr;
    Hook* tail_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace uvtask::detail
