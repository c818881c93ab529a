// The other thread of a fuzz program: cancels a task after a busy-wait of a given length, then
// drops its copy of the handle there (docs/semantics.md §3.10: cancel(), copying and destroying
// a handle are safe from any thread). One thread for the whole fuzzing process.
#pragma once

#include <uvtask/task_handle.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace uvtask::fuzz {

class Remote {
public:
    Remote();
    Remote(const Remote&) = delete;
    Remote& operator=(const Remote&) = delete;
    ~Remote();

    /// The thread of the process (started on first use).
    static Remote& instance();

    /// Starts `handle.cancel(msg, kind)` on the thread after `spin` rounds of busy-waiting.
    /// One job at a time: the previous one must be finished.
    void cancel(TaskHandle<int> handle, std::string msg, CancelKind kind, std::uint32_t spin);
    /// True once the job's cancel() has returned (acquire: its result is visible).
    [[nodiscard]] bool finished() const noexcept {
        return finished_.load(std::memory_order_acquire);
    }
    /// What the job's cancel() returned.
    [[nodiscard]] bool result() const noexcept { return result_; }

private:
    struct Job {
        TaskHandle<int> handle;
        std::string msg;
        CancelKind kind = CancelKind::user;
        std::uint32_t spin = 0;
    };
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::optional<Job> job_;
    bool closing_ = false;
    bool result_ = false;  // written before finished_ is released
    std::atomic<bool> finished_{true};
    std::thread thread_;  // last: starts once the rest is built
};

}  // namespace uvtask::fuzz
