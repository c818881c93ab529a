// The native loop thread and the ports (see bridge.hpp). Nothing here touches Python, except
// PortCore's benchmark-only call_soon_threadsafe mode.
#include "bridge.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <future>
#include <system_error>
#include <utility>

namespace uvtask::python::detail {

// ---- Call

Call::~Call() = default;

void Call::publish() noexcept {
    std::shared_ptr<PortCore> target = port.lock();
    if (!target) {
        return;  // the asyncio loop that awaited it is gone: nobody to tell
    }
    try {
        target->push(shared_from_this());
    } catch (const std::bad_weak_ptr&) {
        // Not owned by a shared_ptr: cannot happen (make_awaitable takes a shared_ptr).
    }
}

// ---- NativeLoop

namespace {

std::atomic<bool> forked_child{false};

void after_fork_in_child() noexcept {
    // Relaxed: read by the same (only) thread of the child.
    forked_child.store(true, std::memory_order_relaxed);
}

}  // namespace

struct NativeLoop::Handles {
    uv_async_t keepalive{};  // referenced: keeps uv_run running while the process lives
    uv_timer_t grace{};      // started by the stop call, unreferenced
    bool grace_started = false;
};

NativeLoop& NativeLoop::instance() {
    // Leaked on purpose: no static destructor may run at exit (atexit's shutdown joins the
    // thread; a destructor after it would find a joined thread, or none after a fork).
    static NativeLoop* current = [] {
        pthread_atfork(nullptr, nullptr, &after_fork_in_child);
        return new NativeLoop();
    }();
    // Relaxed: the flag is set and read by the child's only thread.
    if (forked_child.exchange(false, std::memory_order_relaxed)) {
        // The parent's loop thread did not survive the fork: its state (and any lock it held)
        // is abandoned, and the child starts its own loop on first use.
        current = new NativeLoop();
    }
    return *current;
}

void NativeLoop::ensure_running() {
    if (state_ == State::running) {
        return;
    }
    if (state_ == State::stopped) {
        throw InvalidStateError(
            "uvtask: the native loop has shut down (the interpreter is exiting)");
    }
    auto handles = std::make_unique<Handles>();
    std::promise<Loop*> ready;
    std::future<Loop*> started = ready.get_future();
    std::thread thread(&NativeLoop::run, this, handles.get(), &ready);
    Loop* loop = nullptr;
    try {
        loop = started.get();
    } catch (...) {
        thread.join();
        throw;
    }
    thread_ = std::move(thread);
    loop_ = loop;
    handles_ = handles.release();  // freed by the thread, after its loop is gone
    state_ = State::running;
}

void NativeLoop::run(Handles* handles, std::promise<Loop*>* ready) noexcept {
    std::unique_ptr<Handles> owned(handles);
    // Signals go to Python's threads (SIGINT must reach the main thread's handler, and no
    // native wait should see EINTR): the loop thread blocks them. A uv_signal_t an extension
    // starts still works — libuv's handler runs on whichever thread takes the signal.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    bool announced = false;
    try {
        Loop loop;
        uv_loop_t* uv = loop.native();
        int rc = uv_async_init(uv, &handles->keepalive, nullptr);
        if (rc == 0) {
            rc = uv_timer_init(uv, &handles->grace);
            if (rc != 0) {
                uv_close(reinterpret_cast<uv_handle_t*>(&handles->keepalive), nullptr);
            }
        }
        if (rc != 0) {
            throw std::system_error(-rc, std::generic_category(), "uvtask: the native loop");
        }
        announced = true;
        ready->set_value(&loop);     // `ready` dies with the starter's frame: not touched again
        uv_run(uv, UV_RUN_DEFAULT);  // until the stop call closed the keepalive and tasks ended
        if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&handles->grace))) {
            uv_close(reinterpret_cast<uv_handle_t*>(&handles->grace), nullptr);
        }
        // ~Loop: tasks still pending (the grace expired) are destroyed and reported on stderr;
        // the handles' close callbacks run and the uv_loop_t is closed.
    } catch (...) {
        if (!announced) {
            ready->set_exception(std::current_exception());
        }
    }
}

void NativeLoop::start(Call& call, std::string name) {
    std::lock_guard<std::mutex> guard(mutex_);
    ensure_running();
    call.start(*loop_, std::move(name));
}

std::size_t NativeLoop::live_tasks() {
    std::future<std::size_t> answer;
    {
        std::lock_guard<std::mutex> guard(mutex_);
        if (state_ != State::running) {
            return 0;
        }
        auto promise = std::make_shared<std::promise<std::size_t>>();
        answer = promise->get_future();
        Loop* loop = loop_;
        loop_->post([promise, loop]() noexcept { promise->set_value(loop->live_tasks()); });
    }
    return answer.get();
}

void NativeLoop::shutdown() noexcept {
    std::unique_lock<std::mutex> guard(mutex_);
    // Release: the loop thread's stopping() sees it before the stop call runs.
    stopping_.store(true, std::memory_order_release);
    if (state_ != State::running) {
        state_ = State::stopped;
        return;
    }
    Loop* loop = loop_;
    Handles* handles = handles_;
    try {
        loop->post([loop, handles]() noexcept {
            loop->cancel_all("interpreter exit", CancelKind::shutdown);
            uv_close(reinterpret_cast<uv_handle_t*>(&handles->keepalive), nullptr);
            handles->grace.data = loop->native();
            uv_timer_start(
                &handles->grace,
                [](uv_timer_t* timer) noexcept { uv_stop(static_cast<uv_loop_t*>(timer->data)); },
                exit_grace_ms, 0);
            uv_unref(reinterpret_cast<uv_handle_t*>(&handles->grace));
        });
    } catch (...) {
        // Out of memory: the thread cannot be told to stop. Leave it (the process is exiting;
        // the OS ends it), rather than join a thread that will never end.
        state_ = State::stopped;
        thread_.detach();
        return;
    }
    state_ = State::stopped;
    loop_ = nullptr;
    handles_ = nullptr;
    std::thread thread = std::move(thread_);
    guard.unlock();
    thread.join();
}

// ---- PortCore

std::atomic<std::uint64_t> gil_wait_ns{0};

PortCore::PortCore() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) {
        throw std::system_error(errno, std::generic_category(), "uvtask: eventfd");
    }
}

PortCore::~PortCore() {
    // Calls still queued keep a reference to themselves; release them (they hold no Python
    // object, only a strong `owner` reference that leaks with them: their asyncio loop is gone).
    Call* call = head_;
    while (call != nullptr) {
        Call* next = call->next_ready;
        call->queued.reset();
        call = next;
    }
    ::close(fd_);
}

void PortCore::push(std::shared_ptr<Call> call) noexcept {
    bool was_empty = false;
    {
        std::lock_guard<std::mutex> guard(mutex_);
        Call* raw = call.get();
        raw->queued = std::move(call);
        raw->next_ready = nullptr;
        was_empty = head_ == nullptr;
        if (was_empty) {
            head_ = raw;
        } else {
            tail_->next_ready = raw;
        }
        tail_ = raw;
    }
    if (was_empty) {
        wake();  // a non-empty queue has a wake-up on its way already
    }
}

void PortCore::wake() noexcept {
    // Acquire: pairs with use_call_soon_threadsafe's release store (drain_ is set before).
    PyObject* loop = loop_.load(std::memory_order_acquire);
    if (loop != nullptr && !NativeLoop::instance().stopping() && _Py_IsFinalizing() == 0) {
        const auto asked = std::chrono::steady_clock::now();
        PyGILState_STATE gil = PyGILState_Ensure();
        const auto waited = std::chrono::steady_clock::now() - asked;
        // Relaxed: a statistic, read by the benchmark after the calls it measures have ended.
        gil_wait_ns.fetch_add(
            static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count()),
            std::memory_order_relaxed);
        PyObject* method = PyUnicode_FromString("call_soon_threadsafe");
        PyObject* result =
            method != nullptr ? PyObject_CallMethodOneArg(loop, method, drain_) : nullptr;
        if (result == nullptr) {
            PyErr_Clear();  // the asyncio loop is closed: the eventfd below is the fallback
        }
        Py_XDECREF(result);
        Py_XDECREF(method);
        PyGILState_Release(gil);
        if (result != nullptr) {
            return;
        }
    }
    const std::uint64_t one = 1;
    while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
}

Call* PortCore::take_all() noexcept {
    std::uint64_t count = 0;
    while (::read(fd_, &count, sizeof count) < 0 && errno == EINTR) {
    }
    // Reset before taking: a push after the take finds the queue empty and writes again.
    std::lock_guard<std::mutex> guard(mutex_);
    Call* all = head_;
    head_ = tail_ = nullptr;
    return all;
}

void PortCore::use_call_soon_threadsafe(PyObject* loop, PyObject* drain) noexcept {
    Py_INCREF(loop);
    Py_INCREF(drain);
    drain_ = drain;
    // Release: publishes drain_ to the loop thread's acquire load in wake().
    loop_.store(loop, std::memory_order_release);
}

}  // namespace uvtask::python::detail
