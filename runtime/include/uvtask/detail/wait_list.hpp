// uvtask internals — the wait queue of the synchronisation primitives: its node and its FIFO.
#pragma once

#include <cstddef>
#include <cstdint>

#include "uvtask/detail/intrusive_list.hpp"

namespace uvtask::detail {

/// How a primitive ended a wait, as its node is told.
enum class WaitEnd : std::uint8_t {
    none,       // not ended by the primitive
    handed,     // handed its completion: the lock, a permit, an item, room, a notification
    destroyed,  // the primitive was destroyed while the waiter was queued
    closed,     // the primitive was closed (`Queue::close()`)
    misuse,     // the caller broke the primitive's rule (`Condition::wait()` without the lock)
};

class WaitList;

/// A waiter queued in a primitive's `WaitList`, living in the waiting task's awaiter (no
/// allocation to wait). A primitive sees only this: it unlinks a node and calls `grant()` or
/// `end(why)`, and the node's hook does the rest (`WaitAwaiter`'s wakes the task). A node knows
/// the list it is in, so that a cancel or the awaiter's destruction unlinks it without knowing
/// the primitive, and so that it can move from one list to another (a Condition's waiter goes
/// from the condition's queue to the lock's). Loop thread only.
class WaitNode : public ListHook<WaitNode> {
public:
    /// Runs when the primitive ends the wait; the node is unlinked already.
    using EndHook = void (*)(WaitNode*, WaitEnd) noexcept;

    explicit WaitNode(EndHook on_end) noexcept : on_end_(on_end) {}
    ~WaitNode() { leave(); }

    /// The primitive hands the waiter its completion.
    void grant() noexcept { on_end_(this, WaitEnd::handed); }
    /// The primitive ends the wait for `why` (destroyed, closed).
    void end(WaitEnd why) noexcept { on_end_(this, why); }
    /// Unlinks the node from the list it is in, if any.
    void leave() noexcept;

protected:
    void set_end_hook(EndHook on_end) noexcept { on_end_ = on_end; }

private:
    friend class WaitList;
    friend class WaitAwaiter;   // its `describe_place` reads `list_`
    WaitList* list_ = nullptr;  // the list the node was last queued in
    EndHook on_end_;
};

/// A FIFO of waiters. Destroying it ends every waiter left with `WaitEnd::destroyed`, first to
/// last: a primitive destroyed while tasks wait on it wakes them with its own error. Loop thread
/// only.
class WaitList {
public:
    WaitList() noexcept = default;
    WaitList(const WaitList&) = delete;
    WaitList& operator=(const WaitList&) = delete;
    ~WaitList() { end_all(WaitEnd::destroyed); }

    [[nodiscard]] bool empty() const noexcept { return nodes_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }
    /// The first waiter, still queued, or null.
    [[nodiscard]] WaitNode* front() const noexcept { return nodes_.front(); }
    /// 1 for the first waiter, 2 for the next…; 0 if `node` is not queued here. O(waiters): for
    /// `Loop::tasks()`.
    [[nodiscard]] std::size_t place_of(const WaitNode* node) const noexcept {
        std::size_t place = 0;
        std::size_t seen = 0;
        nodes_.for_each([&](const WaitNode* queued) {
            ++seen;
            if (queued == node) {
                place = seen;
            }
        });
        return place;
    }

    /// Queues `node` (not in any list) at the back.
    void push_back(WaitNode* node) noexcept {
        node->list_ = this;
        nodes_.push_back(node);
    }
    /// Unlinks the first waiter and hands it its completion; false if nobody waits.
    bool grant_first() noexcept {
        WaitNode* node = nodes_.pop_front();
        if (node == nullptr) {
            return false;
        }
        node->grant();
        return true;
    }
    /// Unlinks every waiter and hands each its completion, first to last.
    void grant_all() noexcept {
        while (grant_first()) {
        }
    }
    /// Unlinks every waiter and ends each for `why`, first to last.
    void end_all(WaitEnd why) noexcept {
        while (WaitNode* node = nodes_.pop_front()) {
            node->end(why);
        }
    }

private:
    friend class WaitNode;
    IntrusiveList<WaitNode, WaitNode> nodes_;
};

inline void WaitNode::leave() noexcept {
    if (linked()) {
        list_->nodes_.remove(this);
    }
}

}  // namespace uvtask::detail
