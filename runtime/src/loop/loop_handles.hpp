// Private: the libuv handles of a loop and its remote inbox. Separately allocated: on an adopted
// loop the close callbacks run on the application's next `uv_run`, after the LoopCore is gone;
// the last one frees this.
#pragma once

#include <uv.h>

#include <atomic>
#include <mutex>

#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/task_host.hpp"

namespace uvtask::detail {

/// The remote inbox: a FIFO of nodes (task states for cancels and starts, PostedCalls) handed
/// in by other threads. Owned by the LoopCore (it lives as long as the Loop object, so a
/// thread posting to a loop that has closed finds `closed` set, never freed memory).
struct RemoteInbox {
    std::mutex mutex;
    RemoteNode* head = nullptr;  // guarded by `mutex`, like every queued node's remote_kind
    RemoteNode* tail = nullptr;
    bool closed = false;  // guarded by `mutex`: nothing more is taken in
    // Threads between queueing and the end of their uv_async_send. Teardown waits for 0 before
    // it closes the async handle; a sender's decrement is its last touch of the loop.
    std::atomic<int> senders{0};
    uv_async_t* async = nullptr;  // the wake-up; used only by senders counted above

    /// Appends `node` (under `mutex`).
    void push_locked(RemoteNode* node, RemoteNode::Kind kind) noexcept {
        node->remote_kind = kind;
        node->next_remote = nullptr;
        (tail != nullptr ? tail->next_remote : head) = node;
        tail = node;
    }
    /// Wakes the loop (outside `mutex`), then stops counting as a sender.
    void wake() noexcept {
        uv_async_send(async);
        // Release: everything this thread did before is visible to the teardown that sees 0.
        senders.fetch_sub(1, std::memory_order_release);
    }
};

struct LoopHandles {
    uv_idle_t idle{};    // started while tasks are ready: keeps libuv's poll from blocking
    uv_check_t check{};  // drains the ready queue, once per loop iteration
    uv_async_t async{};  // wakes the loop for its remote inbox
    uv_signal_t sigusr1{};  // the task dump's SIGUSR1 watch (Loop::set_dump_tasks_on_sigusr1)
    bool sigusr1_open = false;
    LoopCore* core = nullptr;
    int open = 0;

    static LoopCore* core_of(void* data) noexcept { return static_cast<LoopHandles*>(data)->core; }
    static void on_idle(uv_idle_t* handle) noexcept;
    static void on_check(uv_check_t* handle) noexcept;
    static void on_async(uv_async_t* handle) noexcept;
    static void on_closed(uv_handle_t* handle) noexcept;
    static void on_sigusr1(uv_signal_t* handle, int signum) noexcept;
};

}  // namespace uvtask::detail
