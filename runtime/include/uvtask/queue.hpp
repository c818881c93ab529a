// uvtask — Queue<T>: a fair, bounded, cancel-safe FIFO between tasks (asyncio.Queue).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <concepts>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/detail/wait_awaiter.hpp"

namespace uvtask {

/// Thrown by `push` on a closed `Queue`, and by `pop` on a closed queue once it is empty: the
/// clean end of a stream of items (like Python 3.13's `QueueShutDown`).
class QueueClosedError : public std::runtime_error {
public:
    /// The error with the message `what`.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `std::bad_alloc`.
    /// Thread safety: any thread.
    using std::runtime_error::runtime_error;
    /// The error with the message "the queue is closed".
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `std::bad_alloc`.
    /// Thread safety: any thread.
    QueueClosedError() : std::runtime_error("the queue is closed") {}
};

template <std::move_constructible T>
class Queue;

namespace detail {

template <class T>
class QueuePopAwaiter : public WaitAwaiter {
public:
    explicit QueuePopAwaiter(Queue<T>* queue) noexcept : queue_(queue) {}
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if (!begin()) {
            return false;
        }
        if (queue_->has_item()) {
            return complete_now();  // taken in await_resume
        }
        if (queue_->closed_) {
            return end_now(WaitEnd::closed);
        }
        return wait_in(queue_->poppers_, resume_at, wait_info);
    }
    T await_resume() {
        end_of_wait(texts);
        if (handed()) {
            // Handed over by a push: ours even if a cancel arrived since (atomic completion).
            return std::move(*slot_);
        }
        return queue_->take();  // an item was there when we looked
    }
    Outcome<T> await_resume_outcome() noexcept { return wait_outcome<T>(*this); }

private:
    friend class Queue<T>;
    static constexpr WaitTexts texts{"Queue::pop()",
                                     "Queue::pop(): the Queue was destroyed while a task waited",
                                     "Queue::pop(): the queue is closed and empty"};
    static constexpr WaitInfo wait_info{"Queue::pop()", &WaitAwaiter::describe_place};

    Queue<T>* queue_;
    std::optional<T> slot_;  // the item a push handed over
};

template <class T>
class QueuePushAwaiter : public WaitAwaiter {
public:
    QueuePushAwaiter(Queue<T>* queue, T&& item) noexcept(std::is_nothrow_move_constructible_v<T>)
        : queue_(queue), item_(std::move(item)) {}
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if (!begin()) {
            return false;
        }
        if (queue_->closed_) {
            return end_now(WaitEnd::closed);
        }
        if (queue_->has_room()) {
            return complete_now();  // put in await_resume
        }
        return wait_in(queue_->pushers_, resume_at, wait_info);
    }
    void await_resume() {
        end_of_wait(texts);
        if (!handed()) {
            queue_->put(std::move(item_));  // there was room when we looked
        }
        // Otherwise a pop already moved our item into the queue: done even if a cancel arrived
        // since (atomic completion).
    }
    Outcome<void> await_resume_outcome() noexcept { return wait_outcome<void>(*this); }

private:
    friend class Queue<T>;
    static constexpr WaitTexts texts{"Queue::push()",
                                     "Queue::push(): the Queue was destroyed while a task waited",
                                     "Queue::push(): the queue is closed"};
    static constexpr WaitInfo wait_info{"Queue::push()", &WaitAwaiter::describe_place};

    Queue<T>* queue_;
    T item_;
};

}  // namespace detail

/// A FIFO queue of `T` between tasks of one loop (asyncio.Queue), bounded by `capacity` items
/// (`Queue<T>::unbounded` by default; 0 makes a rendezvous: a push completes when a pop takes
/// the item). Not copyable or movable; destroying it wakes the tasks waiting on it with
/// `InvalidStateError`.
///
/// **Fair**: pops are served in the order they started waiting, and so are pushes waiting for
/// room. An item is handed straight to the first waiting pop, and room freed by a pop is given
/// straight to the first waiting push, so nobody barges ahead of the queue.
///
/// **Cancel-safe** (atomic completion, docs/semantics.md §3.3): a `pop()` or `push()` cancelled
/// while it waits is unlinked and throws `CancelledError`; nothing was taken or added. A `pop()`
/// that was handed an item before the cancel reached it returns the item (the cancel is
/// delivered at the next suspension point): an item is never lost, unlike asyncio's `get()`.
/// Likewise a `push()` whose item was already moved into the queue returns normally.
///
/// **Closing**: `close()` ends the stream. Pushes then throw `QueueClosedError` (their items are
/// not added); pops return the items still queued, then throw `QueueClosedError` — so a consumer
/// ends cleanly with `catch (const QueueClosedError&)`.
///
/// Thread safety: loop thread only, like every member.
template <std::move_constructible T>
class Queue {
public:
    /// The item type.
    using value_type = T;
    /// The capacity that means "no limit" (a `push` then never waits).
    static constexpr std::size_t unbounded = SIZE_MAX;

    /// An empty, open queue holding at most `capacity` items.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: any thread; then used on one loop's thread only.
    explicit Queue(std::size_t capacity = unbounded) noexcept : capacity_(capacity) {}
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;
    /// Destroys the queue and the items in it; tasks still waiting in `pop()` or `push()` are
    /// woken and throw `InvalidStateError` (a waiting push's item is destroyed with it).
    ///
    /// Completes when: at once; the waiters resume later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    ~Queue() = default;

    /// Adds `item` at the back, waiting (FIFO) while the queue is full:
    /// `co_await queue.push(std::move(item));`.
    ///
    /// Completes when: the item is in the queue or in a waiting pop's hands — at once if there
    /// is room (or a pop waits), else when a pop makes room.
    /// Suspension point: yes — a pending cancel is thrown at once, without adding.
    /// On cancel: while waiting, the push is unlinked and `CancelledError` thrown; the item was
    /// not added and is destroyed with the operation (keep a copy, or use `try_push`, if it must
    /// survive). Once a pop has moved the item into the queue, the push returns normally and the
    /// cancel is delivered at the next suspension point.
    /// Throws: `CancelledError` (not added); `QueueClosedError` if the queue is closed, or closed
    /// while the push waits (not added); `InvalidStateError` outside a task, or if the queue is
    /// destroyed while the push waits; what moving `T` or allocating throws (not added).
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::QueuePushAwaiter<T> push(T item) noexcept(
        std::is_nothrow_move_constructible_v<T>) {
        return detail::QueuePushAwaiter<T>{this, std::move(item)};
    }
    /// Removes and returns the front item, waiting (FIFO) while the queue is empty:
    /// `T item = co_await queue.pop();`.
    ///
    /// Completes when: an item is ours — at once if there is one, else when a push hands one
    /// over.
    /// Suspension point: yes — a pending cancel is thrown at once, without taking.
    /// On cancel: while waiting, the pop is unlinked and `CancelledError` thrown; nothing was
    /// taken. Once a push has handed it an item, the pop returns the item (never lost) and the
    /// cancel is delivered at the next suspension point.
    /// Throws: `CancelledError` (nothing taken); `QueueClosedError` once the queue is closed and
    /// empty (also when it is closed while the pop waits); `InvalidStateError` outside a task,
    /// or if the queue is destroyed while the pop waits; what moving `T` or allocating throws
    /// (no item lost).
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::QueuePopAwaiter<T> pop() noexcept {
        return detail::QueuePopAwaiter<T>{this};
    }

    /// Adds `item` if there is room (or a pop waits: it is handed over); never suspends. Returns
    /// false, leaving `item` untouched, if the queue is full.
    ///
    /// Completes when: at once.
    /// Suspension point: no — a pending cancel is not delivered here.
    /// On cancel: not cancellable.
    /// Throws: `QueueClosedError` if the queue is closed; what moving `T` or allocating throws
    /// (not added).
    /// Thread safety: loop thread only.
    [[nodiscard]] bool try_push(T&& item) {
        throw_if_closed("Queue::try_push()");
        if (!has_room()) {
            return false;
        }
        put(std::move(item));
        return true;
    }
    /// Adds a copy of `item` if there is room; see the other overload.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: `QueueClosedError` if the queue is closed; what copying or moving `T` or
    /// allocating throws (not added).
    /// Thread safety: loop thread only.
    [[nodiscard]] bool try_push(const T& item) requires std::copy_constructible<T> {
        throw_if_closed("Queue::try_push()");
        if (!has_room()) {
            return false;
        }
        put(T(item));
        return true;
    }
    /// Removes and returns the front item if there is one (on a closed queue too); never
    /// suspends. `std::nullopt` if the queue is empty and open.
    ///
    /// Completes when: at once.
    /// Suspension point: no — a pending cancel is not delivered here.
    /// On cancel: not cancellable.
    /// Throws: `QueueClosedError` if the queue is closed and empty; what moving `T` or
    /// allocating throws (no item lost).
    /// Thread safety: loop thread only.
    [[nodiscard]] std::optional<T> try_pop() {
        if (has_item()) {
            return std::optional<T>(take());
        }
        throw_if_closed("Queue::try_pop()");
        return std::nullopt;
    }

    /// Closes the queue (idempotent): waiting pushes throw `QueueClosedError`, and so do waiting
    /// pops (there are waiting pops only when the queue is empty); later pops drain the items
    /// left, then throw it; later pushes throw it.
    ///
    /// Completes when: at once; the woken waiters resume later, from the ready queue.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    void close() noexcept {
        closed_ = true;
        poppers_.end_all(detail::WaitEnd::closed);
        pushers_.end_all(detail::WaitEnd::closed);
    }

    /// Items in the queue (not counting pushes waiting for room).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    /// True when no item is in the queue (pushes may still wait, on a rendezvous queue).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
    /// True when a push would wait (always true for capacity 0 with no pop waiting).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool full() const noexcept { return !has_room(); }
    /// The most items the queue holds (`unbounded`: no limit; 0: a rendezvous).
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// True once `close()` was called.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] bool closed() const noexcept { return closed_; }
    /// Pops waiting for an item.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t waiting_pops() const noexcept { return poppers_.size(); }
    /// Pushes waiting for room.
    ///
    /// Completes when: at once.
    /// Suspension point: no.
    /// On cancel: not cancellable.
    /// Throws: nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] std::size_t waiting_pushes() const noexcept { return pushers_.size(); }

private:
    using Popper = detail::QueuePopAwaiter<T>;
    using Pusher = detail::QueuePushAwaiter<T>;
    friend class detail::QueuePopAwaiter<T>;
    friend class detail::QueuePushAwaiter<T>;

    void throw_if_closed(const char* operation) const {
        if (closed_) {
            throw QueueClosedError(std::string(operation) + ": the queue is closed");
        }
    }
    // Waiting pops exist only while the queue is empty; waiting pushes only while it is full.
    [[nodiscard]] bool has_item() const noexcept { return !items_.empty() || !pushers_.empty(); }
    [[nodiscard]] bool has_room() const noexcept {
        return !poppers_.empty() || items_.size() < capacity_;
    }

    /// Hands `item` to the first waiting pop, or appends it (there is room). If moving or
    /// allocating throws, nothing changed and nobody was woken.
    void put(T&& item) {
        if (detail::WaitNode* node = poppers_.front()) {
            static_cast<Popper*>(node)->slot_.emplace(std::move(item));
            poppers_.grant_first();
            return;
        }
        items_.push_back(std::move(item));
    }

    /// Takes the front item (there is one): from the buffer, refilled from the first waiting
    /// push, or straight from that push for a rendezvous queue. If moving or allocating throws,
    /// no item is lost.
    T take() {
        if (detail::WaitNode* node = pushers_.front()) {
            auto* pusher = static_cast<Pusher*>(node);
            if (items_.empty()) {
                T item(std::move(pusher->item_));
                pushers_.grant_first();
                return item;
            }
            items_.push_back(std::move(pusher->item_));  // strong guarantee: refill first
            pushers_.grant_first();
        }
        T item(std::move(items_.front()));
        items_.pop_front();
        return item;
    }

    std::deque<T> items_;
    detail::WaitList poppers_;
    detail::WaitList pushers_;
    std::size_t capacity_;
    bool closed_ = false;
};

}  // namespace uvtask
