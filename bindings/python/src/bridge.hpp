// uvtask Python bindings — the bridge: the one native loop thread, and the ports through which
// ended native calls reach the asyncio loops that await them.
#pragma once

#include <pybind11/pybind11.h>

#include <uv.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "uvtask/loop.hpp"
#include "uvtask/python.hpp"

namespace uvtask::python::detail {

/// How long the loop thread waits, at interpreter exit, for the native tasks it cancelled
/// before it stops the loop and destroys the ones still pending (reported on stderr) — the same
/// grace as `run()`'s shutdown.
inline constexpr std::uint64_t exit_grace_ms = 5000;

/// The process's one uvtask Loop, on a thread of its own, started on first use and stopped at
/// interpreter exit. Every method is safe from any thread; none touches Python.
class NativeLoop {
public:
    /// The instance of this process (a child after `fork()` gets a fresh one: the parent's
    /// thread does not exist there).
    [[nodiscard]] static NativeLoop& instance();

    /// Starts `call` on the loop (the loop thread starts on first use), under the lock that
    /// `shutdown` takes, so that no call starts once shutdown has begun. Throws
    /// `InvalidStateError` after shutdown, and what starting a thread or `spawn_on` throws.
    void start(Call& call, std::string name);
    /// How many native tasks have not ended (0 if the loop never started or has stopped). Asks
    /// the loop thread and waits for the answer: call it without the GIL.
    [[nodiscard]] std::size_t live_tasks();
    /// Cancels every native task (kind shutdown, message "interpreter exit"), waits for them to
    /// end (at most `exit_grace_ms`, then the rest are destroyed), stops the loop and joins its
    /// thread. Later `start`s throw. Idempotent. Call it without the GIL.
    void shutdown() noexcept;
    /// True once `shutdown` has begun: the loop thread must not take the GIL any more.
    [[nodiscard]] bool stopping() const noexcept {
        // Acquire: pairs with shutdown()'s release store.
        return stopping_.load(std::memory_order_acquire);
    }

private:
    enum class State : unsigned char { idle, running, stopped };
    struct Handles;
    NativeLoop() = default;
    void ensure_running();  // under mutex_
    void run(Handles* handles, std::promise<Loop*>* ready) noexcept;

    std::mutex mutex_;
    State state_ = State::idle;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    Loop* loop_ = nullptr;  // lives on the thread; valid while state_ == running
    Handles* handles_ = nullptr;
};

/// Where ended calls wait for one asyncio loop: a queue and an eventfd that the asyncio loop
/// watches (`add_reader`). The loop thread pushes and writes the eventfd — no GIL. In the
/// benchmark's comparison mode the loop thread instead takes the GIL and calls the asyncio loop's
/// `call_soon_threadsafe(drain)`.
class PortCore {
public:
    /// Throws `std::system_error` if no eventfd can be made.
    PortCore();
    PortCore(const PortCore&) = delete;
    PortCore& operator=(const PortCore&) = delete;
    ~PortCore();

    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// Loop thread: queues an ended call; wakes the asyncio loop if the queue was empty.
    void push(std::shared_ptr<Call> call) noexcept;
    /// Python thread: resets the eventfd, then takes every queued call, oldest first (each
    /// `queued` reference moves to the caller).
    [[nodiscard]] Call* take_all() noexcept;
    /// Benchmark only: wake the asyncio loop with `loop.call_soon_threadsafe(drain)` (taking the
    /// GIL on the loop thread) instead of the eventfd. The two references are kept for the
    /// process's life: the loop thread may drop the last reference to this port, and must never
    /// release a Python object.
    void use_call_soon_threadsafe(PyObject* loop, PyObject* drain) noexcept;

private:
    void wake() noexcept;
    int fd_ = -1;
    std::mutex mutex_;
    Call* head_ = nullptr;
    Call* tail_ = nullptr;
    std::atomic<PyObject*> loop_{nullptr};
    PyObject* drain_ = nullptr;
};

/// Benchmark: how long the loop thread waited for the GIL in the call_soon_threadsafe mode, in
/// total (nanoseconds).
extern std::atomic<std::uint64_t> gil_wait_ns;

/// The Python exception (a new reference to an instance) for a C++ exception: see
/// docs/python.md for the mapping. Never null: falls back to `RuntimeError`.
[[nodiscard]] PyObject* python_exception(const std::exception_ptr& error) noexcept;

/// Registers the mapping as this module's exception translator (for errors raised at the call).
void register_exception_translator();

}  // namespace uvtask::python::detail
