#include "remote.hpp"

#include <utility>

namespace uvtask::fuzz {

Remote::Remote() : thread_([this] { run(); }) {}

Remote::~Remote() {
    {
        std::lock_guard<std::mutex> guard(mutex_);
        closing_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

Remote& Remote::instance() {
    static Remote remote;
    return remote;
}

void Remote::cancel(TaskHandle<int> handle, std::string msg, CancelKind kind, std::uint32_t spin) {
    {
        std::lock_guard<std::mutex> guard(mutex_);
        // relaxed: the job is published to the thread by the mutex, and finished() is read only
        // by this (the loop's) thread after the thread released it.
        finished_.store(false, std::memory_order_relaxed);
        job_ = Job{std::move(handle), std::move(msg), kind, spin};
    }
    wake_.notify_one();
}

void Remote::run() {
    for (;;) {
        Job job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [this] { return closing_ || job_.has_value(); });
            if (!job_) {
                return;
            }
            job = std::move(*job_);
            job_.reset();
        }
        volatile std::uint32_t sink = 0;
        for (std::uint32_t i = 0; i < job.spin; ++i) {
            sink = sink + i;
        }
        result_ = job.handle.cancel(std::move(job.msg), job.kind);
        job.handle = TaskHandle<int>{};  // the copy dies here, off the loop thread
        // release: result_ (and the cancel's effects) are visible to whoever sees finished.
        finished_.store(true, std::memory_order_release);
    }
}

}  // namespace uvtask::fuzz
