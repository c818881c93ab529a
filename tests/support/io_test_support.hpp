// Test support for the I/O suites: deterministic "completed, then cancelled" races, a saturated
// thread pool (so that queued requests cannot start), a listener that never answers, temp paths,
// a connected TCP pair and reading a stream to its end.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

/// True when some task waits in the ready queue.
inline bool some_task_ready() { return detail::current_loop()->has_ready_tasks(); }

/// Cancels `target` from a libuv check handle — after the poll phase ran the I/O callbacks of
/// this loop iteration, before the runtime's own check handle drains the ready queue — the
/// first time `condition()` holds. So a callback that completed an operation has already woken
/// the target (it sits in the ready queue), and the cancel reaches it before it resumes: the
/// "completed, then cancelled" race, made deterministic. (libuv runs check handles newest
/// first, so this one runs before the runtime's.) The default condition is "some task is
/// ready", for tests where only the target can become ready.
///
/// For an operation that completes by itself, arm it in the step that spawns the target and
/// join at once, with the condition `started && some_task_ready()` where the target sets
/// `started` right before its `co_await`: the test is parked in the join, so a ready task is
/// the target woken by its completion.
class CancelAfterCompletion {
public:
    template <class T>
    explicit CancelAfterCompletion(TaskHandle<T> target, std::function<bool()> condition = {})
        : state_(std::make_unique<State>()) {
        state_->cancel = [target] { target.cancel("after completion"); };
        state_->condition = condition ? std::move(condition) : [] { return some_task_ready(); };
        state_->check.data = state_.get();
        uv_check_init(Loop::current()->native(), &state_->check);
        uv_check_start(&state_->check, [](uv_check_t* check) {
            auto* state = static_cast<State*>(check->data);
            if (!state->fired && state->condition()) {
                state->fired = true;
                state->cancel();
                uv_check_stop(check);
            }
        });
    }
    CancelAfterCompletion(const CancelAfterCompletion&) = delete;
    CancelAfterCompletion& operator=(const CancelAfterCompletion&) = delete;
    ~CancelAfterCompletion() {
        uv_close(reinterpret_cast<uv_handle_t*>(&state_.release()->check), [](uv_handle_t* h) {
            std::unique_ptr<State> owned(static_cast<State*>(h->data));
        });
    }
    [[nodiscard]] bool fired() const noexcept { return state_->fired; }

private:
    struct State {
        uv_check_t check{};
        std::function<void()> cancel;
        std::function<bool()> condition;
        bool fired = false;
    };
    std::unique_ptr<State> state_;
};

/// libuv's thread-pool size (UV_THREADPOOL_SIZE, default 4).
inline int thread_pool_size() {
    const char* value = std::getenv("UV_THREADPOOL_SIZE");
    const int size = value != nullptr ? std::atoi(value) : 4;
    return size < 1 ? 1 : size;
}

/// Occupies every thread of libuv's pool with a job that blocks until `release()`, so a request
/// queued meanwhile cannot start (and `uv_cancel` on it succeeds).
class PoolBlocker {
public:
    /// Call from a task; returns once every pool thread runs a blocking job.
    static Task<std::unique_ptr<PoolBlocker>> occupy() {
        auto blocker = std::make_unique<PoolBlocker>();
        const int size = thread_pool_size();
        for (int i = 0; i < size; ++i) {
            blocker->jobs_.push_back(spawn(block(blocker->gate_)));
        }
        while (blocker->gate_->started.load() < size) {
            co_await sleep(std::chrono::milliseconds(1));
        }
        co_return blocker;
    }
    /// Lets the jobs end (without waiting for them).
    void open() {
        {
            std::lock_guard<std::mutex> lock(gate_->mutex);
            gate_->open = true;
        }
        gate_->cv.notify_all();
    }
    /// Lets the jobs end and waits for them.
    Task<void> release() {
        open();
        for (auto& job : jobs_) {
            co_await job;
        }
        jobs_.clear();
    }

    struct Gate {
        std::mutex mutex;
        std::condition_variable cv;
        bool open = false;
        std::atomic<int> started{0};
    };

private:
    static Task<void> block(std::shared_ptr<Gate> gate) {
        auto job = [gate] {
            gate->started.fetch_add(1);
            std::unique_lock<std::mutex> lock(gate->mutex);
            gate->cv.wait(lock, [&] { return gate->open; });
        };
        co_await to_thread(std::move(job));
    }
    std::shared_ptr<Gate> gate_ = std::make_shared<Gate>();
    std::vector<TaskHandle<void>> jobs_;
};

/// A TCP listener on 127.0.0.1 that never accepts and whose queue is full (backlog 0 plus one
/// queued connection): the kernel drops further SYNs, so a connect to it stays pending for
/// seconds — a server that never answers, on loopback.
class StalledListener {
public:
    StalledListener() {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(listen_fd_ >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
        REQUIRE(::listen(listen_fd_, 0) == 0);
        socklen_t length = sizeof(address);
        REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
        filler_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(filler_fd_ >= 0);
        REQUIRE(::connect(filler_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    }
    StalledListener(const StalledListener&) = delete;
    StalledListener& operator=(const StalledListener&) = delete;
    ~StalledListener() {
        ::close(filler_fd_);
        ::close(listen_fd_);
    }
    [[nodiscard]] SocketAddress address() const { return SocketAddress::parse("127.0.0.1", port_); }

private:
    int listen_fd_ = -1;
    int filler_fd_ = -1;
    std::uint16_t port_ = 0;
};

/// A path in the temp directory unique to this process, removed (if present) on construction
/// and destruction.
class TempPath {
public:
    explicit TempPath(const std::string& name)
        : path_((std::filesystem::temp_directory_path() /
                 ("uvtask-test-" + std::to_string(::getpid()) + "-" + name))
                    .string()) {
        std::filesystem::remove(path_);
    }
    TempPath(const TempPath&) = delete;
    TempPath& operator=(const TempPath&) = delete;
    ~TempPath() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    [[nodiscard]] const std::string& str() const noexcept { return path_; }

private:
    std::string path_;
};

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
inline std::uint16_t closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

/// Deterministic pseudo-random bytes (xorshift64*), for transfers checked byte by byte.
class ByteGenerator {
public:
    explicit ByteGenerator(std::uint64_t seed) noexcept : state_(seed | 1) {}
    std::byte next() noexcept {
        if (left_ == 0) {
            state_ ^= state_ >> 12;
            state_ ^= state_ << 25;
            state_ ^= state_ >> 27;
            word_ = state_ * 0x2545F4914F6CDD1DULL;
            left_ = 8;
        }
        --left_;
        const auto byte = static_cast<std::byte>(word_ & 0xff);
        word_ >>= 8;
        return byte;
    }
    void fill(std::span<std::byte> out) noexcept {
        for (std::byte& b : out) {
            b = next();
        }
    }

private:
    std::uint64_t state_;
    std::uint64_t word_ = 0;
    int left_ = 0;
};

/// Yields until `condition()` holds (each turn lets libuv poll once the batch ends).
template <class Condition>
Task<void> until(Condition condition) {
    while (!condition()) {
        co_await sleep(std::chrono::milliseconds(1));
    }
}

}  // namespace uvtask::testing
