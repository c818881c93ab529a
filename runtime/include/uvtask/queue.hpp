// uvtask — Queue<T>: a fair, bounded, cancel-safe FIFO between tasks (asyncio.Queue).
#pragma once

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
#include "uvtask/detail/suspension_point.hpp"
#include "uvtask/detail/wait_list.hpp"

namespace uvtask {

/// Thrown by `push` on a closed `Queue`, and by `pop` on a closed queue once it is empty: the
/// clean end of a stream of items (like Python 3.13's `QueueShutDown`).
class QueueClosedError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    QueueClosedError() : std::runtime_error("the queue is closed") {}
};

template <std::move_constructible T>
class Queue;

namespace detail {

/// What ended a queue wait other than an item or room: `close()` or the queue's destruction.
enum class QueueTrouble : unsigned char { none, closed, destroyed };

template <class T>
class QueuePopAwaiter : public SuspensionPoint, public WaitNode {
public:
    explicit QueuePopAwaiter(Queue<T>* queue) noexcept : queue_(queue) {}
    ~QueuePopAwaiter() {
        if (linked()) {
            queue_->poppers_.remove(this);
        }
    }
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if (!begin()) {
            return false;
        }
        if (queue_->has_item()) {
            status_ = Status::completed;
            take_now_ = true;
            return false;
        }
        if (queue_->closed_) {
            status_ = Status::misuse;
            trouble_ = QueueTrouble::closed;
            return false;
        }
        queue_->poppers_.push_back(this);
        park(resume_at, &on_cancel_hook);
        return true;
    }
    T await_resume() {
        if (status_ == Status::completed) [[likely]] {
            if (take_now_) {
                return queue_->take();
            }
            // Handed over by a push: ours even if a cancel arrived since (atomic completion).
            return std::move(*slot_);
        }
        if (status_ == Status::misuse) {
            if (trouble_ == QueueTrouble::closed) {
                throw QueueClosedError("Queue::pop(): the queue is closed and empty");
            }
            throw InvalidStateError("Queue::pop(): the Queue was destroyed while a task waited");
        }
        finish("Queue::pop()");
        throw InvalidStateError("Queue::pop(): unreachable");
    }

private:
    friend class Queue<T>;
    static void on_cancel_hook(Suspension* self) noexcept {
        auto* waiter = static_cast<QueuePopAwaiter*>(self);
        waiter->queue_->poppers_.remove(waiter);
        waiter->wake(Status::cancelled);
    }
    void end_with(QueueTrouble trouble) noexcept {
        trouble_ = trouble;
        wake(Status::misuse);
    }

    Queue<T>* queue_;
    std::optional<T> slot_;  // the item a push handed over
    bool take_now_ = false;  // an item was there when we looked: take it in await_resume
    QueueTrouble trouble_ = QueueTrouble::none;
};

template <class T>
class QueuePushAwaiter : public SuspensionPoint, public WaitNode {
public:
    QueuePushAwaiter(Queue<T>* queue, T&& item) noexcept(std::is_nothrow_move_constructible_v<T>)
        : queue_(queue), item_(std::move(item)) {}
    ~QueuePushAwaiter() {
        if (linked()) {
            queue_->pushers_.remove(this);
        }
    }
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if (!begin()) {
            return false;
        }
        if (queue_->closed_) {
            status_ = Status::misuse;
            trouble_ = QueueTrouble::closed;
            return false;
        }
        if (queue_->has_room()) {
            status_ = Status::completed;
            put_now_ = true;
            return false;
        }
        queue_->pushers_.push_back(this);
        park(resume_at, &on_cancel_hook);
        return true;
    }
    void await_resume() {
        if (status_ == Status::completed) [[likely]] {
            if (put_now_) {
                queue_->put(std::move(item_));
            }
            // Otherwise a pop already moved our item into the queue: done even if a cancel
            // arrived since (atomic completion).
            return;
        }
        if (status_ == Status::misuse) {
            if (trouble_ == QueueTrouble::closed) {
                throw QueueClosedError("Queue::push(): the queue is closed");
            }
            throw InvalidStateError("Queue::push(): the Queue was destroyed while a task waited");
        }
        finish("Queue::push()");
    }

private:
    friend class Queue<T>;
    static void on_cancel_hook(Suspension* self) noexcept {
        auto* waiter = static_cast<QueuePushAwaiter*>(self);
        waiter->queue_->pushers_.remove(waiter);
        waiter->wake(Status::cancelled);
    }
    void end_with(QueueTrouble trouble) noexcept {
        trouble_ = trouble;
        wake(Status::misuse);
    }

    Queue<T>* queue_;
    T item_;
    bool put_now_ = false;  // there was room when we looked: put the item in await_resume
    QueueTrouble trouble_ = QueueTrouble::none;
};

}  // namespace detail

/// A FIFO queue of `T` between tasks of one loop (asyncio.Queue), bounded by `capacity` items
/// (`Queue<T>::unbounded` by default; 0 makes a rendezvous: a push completes when a pop takes
/// the item). Loop thread only; not copyable or movable; it must outlive every wait on it
/// (destroying it wakes the waiters with `InvalidStateError`).
///
/// **Fair**: pops are served in the order they started waiting, and so are pushes waiting for
/// room. An item is handed straight to the first waiting pop, and room freed by a pop is given
/// straight to the first waiting push, so nobody barges ahead of the queue.
///
/// **Cancel-safe** (atomic completion, docs/semantics.md §3.3): a `pop()` or `push()` cancelled while it
/// waits is unlinked and throws `CancelledError`; nothing was taken or added. A `pop()` that
/// was handed an item before the cancel reached it returns the item (the cancel is delivered at
/// the next suspension point): an item is never lost, unlike asyncio's `get()`. Likewise a
/// `push()` whose item was already moved into the queue returns normally.
///
/// **Closing**: `close()` ends the stream. Pushes then throw `QueueClosedError` (their items are
/// not added); pops return the items still queued, then throw `QueueClosedError` — so a consumer
/// ends cleanly with `catch (const QueueClosedError&)`.
template <std::move_constructible T>
class Queue {
public:
    using value_type = T;
    static constexpr std::size_t unbounded = SIZE_MAX;

    /// A queue holding at most `capacity` items.
    explicit Queue(std::size_t capacity = unbounded) noexcept : capacity_(capacity) {}
    Queue(const Queue&) = delete;
    Queue& operator=(const Queue&) = delete;
    ~Queue() {
        while (detail::WaitNode* node = poppers_.pop_front()) {
            static_cast<Popper*>(node)->end_with(detail::QueueTrouble::destroyed);
        }
        while (detail::WaitNode* node = pushers_.pop_front()) {
            static_cast<Pusher*>(node)->end_with(detail::QueueTrouble::destroyed);
        }
    }

    /// Adds `item` at the back, waiting (FIFO) while the queue is full. Completes when the item is
    /// in the queue or in a waiting pop's hands. A suspension point: a pending cancel is thrown at
    /// once, without adding. Throws `CancelledError` (the item was not added; it is destroyed
    /// with the operation — keep a copy or use `try_push` if it must survive),
    /// `QueueClosedError`, `InvalidStateError` outside a task.
    [[nodiscard]] detail::QueuePushAwaiter<T> push(T item) noexcept(
        std::is_nothrow_move_constructible_v<T>) {
        return detail::QueuePushAwaiter<T>{this, std::move(item)};
    }
    /// Removes and returns the front item, waiting (FIFO) while the queue is empty. A suspension
    /// point: a pending cancel is thrown at once, without taking. Throws `CancelledError`
    /// (nothing taken), `QueueClosedError` once the queue is closed and empty,
    /// `InvalidStateError` outside a task.
    [[nodiscard]] detail::QueuePopAwaiter<T> pop() noexcept { return detail::QueuePopAwaiter<T>{this}; }

    /// Adds `item` if there is room (or a pop waits); never suspends. Returns false, leaving
    /// `item` untouched, if the queue is full. Throws `QueueClosedError` if closed.
    [[nodiscard]] bool try_push(T&& item) {
        throw_if_closed("Queue::try_push()");
        if (!has_room()) {
            return false;
        }
        put(std::move(item));
        return true;
    }
    /// Adds a copy of `item` if there is room; see the other overload.
    [[nodiscard]] bool try_push(const T& item)
        requires std::copy_constructible<T>
    {
        throw_if_closed("Queue::try_push()");
        if (!has_room()) {
            return false;
        }
        put(T(item));
        return true;
    }
    /// Removes and returns the front item if there is one; never suspends. `std::nullopt` if the
    /// queue is empty; `QueueClosedError` if it is closed and empty.
    [[nodiscard]] std::optional<T> try_pop() {
        if (has_item()) {
            return std::optional<T>(take());
        }
        throw_if_closed("Queue::try_pop()");
        return std::nullopt;
    }

    /// Closes the queue (idempotent): waiting pushes throw `QueueClosedError`, and so do waiting
    /// pops (there are waiting pops only when the queue is empty); later pops drain the items
    /// left, then throw it. Not a suspension point.
    void close() noexcept {
        closed_ = true;
        while (detail::WaitNode* node = poppers_.pop_front()) {
            static_cast<Popper*>(node)->end_with(detail::QueueTrouble::closed);
        }
        while (detail::WaitNode* node = pushers_.pop_front()) {
            static_cast<Pusher*>(node)->end_with(detail::QueueTrouble::closed);
        }
    }

    /// Items in the queue (not counting pushes waiting for room).
    [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
    [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
    /// True when a push would wait (always true for capacity 0 with no pop waiting).
    [[nodiscard]] bool full() const noexcept { return !has_room(); }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    [[nodiscard]] bool closed() const noexcept { return closed_; }
    /// Pops waiting for an item.
    [[nodiscard]] std::size_t waiting_pops() const noexcept { return poppers_.size(); }
    /// Pushes waiting for room.
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
            auto* popper = static_cast<Popper*>(node);
            popper->slot_.emplace(std::move(item));
            poppers_.remove(popper);
            popper->wake(Popper::Status::completed);
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
                pushers_.remove(pusher);
                pusher->wake(Pusher::Status::completed);
                return item;
            }
            items_.push_back(std::move(pusher->item_));  // strong guarantee: refill first
            pushers_.remove(pusher);
            pusher->wake(Pusher::Status::completed);
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
