// The remote inbox: cancels, task starts and calls handed to the loop by other threads, taken in
// on the loop's thread in FIFO order (asyncio's call_soon_threadsafe).
#include <uv.h>

#include <memory>
#include <mutex>
#include <utility>

#include "loop/loop_handles.hpp"
#include "uvtask/detail/loop_core.hpp"

namespace uvtask::detail {

void LoopHandles::on_async(uv_async_t* handle) noexcept {
    if (LoopCore* core = core_of(handle->data)) {
        core->drain_inbox();
    }
}

void LoopCore::hold_alive() noexcept {
    if (alive_holds_++ == 0 && handles_ != nullptr) {
        uv_ref(reinterpret_cast<uv_handle_t*>(&handles_->async));  // a wake-up is to come
    }
}

void LoopCore::release_alive() noexcept {
    if (--alive_holds_ == 0 && handles_ != nullptr) {
        uv_unref(reinterpret_cast<uv_handle_t*>(&handles_->async));
    }
}

void* LoopCore::enqueue_task_event(TaskState& task, std::uint8_t event) noexcept {
    std::lock_guard<std::mutex> guard(inbox_->mutex);
    if (inbox_->closed) {
        return nullptr;  // the loop no longer runs tasks
    }
    if (task.remote_kind != RemoteNode::Kind::idle) {
        // Queued already (events, or a start not taken in yet: a task not started joins
        // nothing, and its start sees a cancel request): the loop takes the node in under this
        // mutex, after this, so it sees the event; nothing more to hand over or wake.
        if (task.remote_kind == RemoteNode::Kind::task) {
            task.remote_events |= event;
        }
        return nullptr;
    }
    task.add_ref();  // the inbox's, released when taken in
    inbox_->push_locked(&task, RemoteNode::Kind::task);
    task.remote_events = event;
    // Relaxed: ordered before the teardown's wait by the mutex (teardown sets `closed` under it
    // first, then waits for 0, so a sender counted here is waited for).
    inbox_->senders.fetch_add(1, std::memory_order_relaxed);
    return inbox_.get();
}

void* LoopCore::enqueue_remote_cancel(TaskState& task) noexcept {
    return enqueue_task_event(task, RemoteNode::event_cancel);
}

void* LoopCore::enqueue_remote_join_end(TaskState& waiter) noexcept {
    return enqueue_task_event(waiter, RemoteNode::event_join_end);
}

void LoopCore::send_remote_wake(void* token) noexcept { static_cast<RemoteInbox*>(token)->wake(); }

bool LoopCore::post(std::unique_ptr<PostedCall> call) noexcept {
    {
        std::lock_guard<std::mutex> guard(inbox_->mutex);
        if (inbox_->closed) {
            return false;
        }
        inbox_->push_locked(call.release(), RemoteNode::Kind::call);
        inbox_->senders.fetch_add(1, std::memory_order_relaxed);  // see enqueue_remote_cancel
    }
    inbox_->wake();
    return true;
}

bool LoopCore::post_start(TaskState* task) noexcept {
    {
        std::lock_guard<std::mutex> guard(inbox_->mutex);
        if (inbox_->closed) {
            return false;
        }
        // Counted before the loop can take it in (and end it): the count never goes below 0.
        load_.fetch_add(1, std::memory_order_relaxed);       // relaxed: see load()
        inbox_->push_locked(task, RemoteNode::Kind::start);  // with the loop's reference
        inbox_->senders.fetch_add(1, std::memory_order_relaxed);  // see enqueue_remote_cancel
    }
    inbox_->wake();
    return true;
}

void LoopCore::poke() noexcept {
    {
        std::lock_guard<std::mutex> guard(inbox_->mutex);
        if (inbox_->closed) {
            return;
        }
        inbox_->senders.fetch_add(1, std::memory_order_relaxed);  // see enqueue_remote_cancel
    }
    inbox_->wake();
}

void LoopCore::drain_inbox() noexcept {
    RemoteNode* node = nullptr;
    {
        std::lock_guard<std::mutex> guard(inbox_->mutex);
        node = std::exchange(inbox_->head, nullptr);
        inbox_->tail = nullptr;
    }
    while (node != nullptr) {
        RemoteNode::Kind kind;
        std::uint8_t events;
        RemoteNode* next;
        {
            // Per node: once marked idle, a task may be queued again by another thread (which
            // relinks it), so its link and kind are read first, under the same lock.
            std::lock_guard<std::mutex> guard(inbox_->mutex);
            kind = node->remote_kind;
            events = node->remote_events;
            next = node->next_remote;
            node->remote_kind = RemoteNode::Kind::idle;
            node->remote_events = 0;
            node->next_remote = nullptr;
        }
        take_in(node, kind, events);
        node = next;
    }
}

void LoopCore::take_in(RemoteNode* node, RemoteNode::Kind kind, std::uint8_t events) noexcept {
    switch (kind) {
        case RemoteNode::Kind::task: {
            auto* task = static_cast<TaskState*>(node);
            if (!task->done() && !closed()) {
                // The end of a joined task first: a join that completed before the cancel
                // reached it returns its result, and the cancel waits (docs/semantics.md §3.3).
                if ((events & RemoteNode::event_join_end) != 0) {
                    Suspension* where = task->suspension();
                    if (where != nullptr && where->on_remote_end != nullptr) {
                        where->on_remote_end(where);
                    }
                }
                if ((events & RemoteNode::event_cancel) != 0) {
                    task->run_cancel_callbacks();  // on this thread, unlike stop_token callbacks
                    task->deliver_cancel_if_suspended();
                }
            }
            task->release();  // the inbox's reference
            return;
        }
        case RemoteNode::Kind::start: {
            auto* task = static_cast<TaskState*>(node);
            if (closed()) {
                // Queued before the loop closed, taken in by its teardown: it never starts, and
                // ends cancelled like a task cancelled before its body first ran (not reported:
                // it had nothing to clean up).
                load_.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see load()
                task->destroy_pending("the loop closed before the task started");
                return;
            }
            take_task(task);
            return;
        }
        case RemoteNode::Kind::call: {
            std::unique_ptr<PostedCall> posted(static_cast<PostedCall*>(node));
            try {
                posted->run();
            } catch (...) {
                report({"exception in a call posted to the loop", {}, std::current_exception()});
            }
            return;
        }
        case RemoteNode::Kind::idle:
            return;
    }
}

}  // namespace uvtask::detail
