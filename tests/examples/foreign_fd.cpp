// Two foreign libraries in a uvtask program, each wrapped the way a user would wrap their own:
//  - a "sensor" library that hands out a non-blocking file descriptor (like a database client,
//    libcurl's sockets, a serial port): read with wait_readable(), bounded with wait_for();
//  - a "device" library with a callback API that answers on its own thread: wrapped in a
//    user-written uvtask::Operation, whose stop() cancels the library's request, and whose
//    completions come back to the loop's thread through Loop::post
//    (docs/writing-awaitables.md).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <uvtask/uvtask.hpp>

using namespace std::chrono_literals;

namespace {

/// The sensor: another thread writes a line into a pipe each time it is poked.
class Sensor {
public:
    Sensor() {
        if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
            std::perror("pipe2");
            std::exit(1);
        }
    }
    Sensor(const Sensor&) = delete;
    Sensor& operator=(const Sensor&) = delete;
    ~Sensor() {
        ::close(fds_[0]);
        ::close(fds_[1]);
    }
    void poke_from_another_thread(int value) {
        std::thread([fd = fds_[1], value] {
            const std::string line = "sensor " + std::to_string(value) + "\n";
            (void)::write(fd, line.data(), line.size());
        }).join();
    }
    [[nodiscard]] int fd() const { return fds_[0]; }

private:
    int fds_[2] = {-1, -1};
};

uvtask::Task<std::string> read_sensor(const Sensor* sensor) {
    co_await uvtask::wait_readable(sensor->fd());
    char buffer[64];
    const ssize_t n = ::read(sensor->fd(), buffer, sizeof buffer);
    co_return std::string(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
}

/// The device library: one request at a time, answered (or cancelled) on its own thread.
class DeviceLibrary {
public:
    using Callback = std::function<void(bool cancelled, std::string reading)>;
    /// Answers after `delay`, unless cancelled first; the callback runs on the library's thread.
    void request(std::chrono::milliseconds delay, Callback callback) {
        worker_ = std::thread([this, delay, callback = std::move(callback)] {
            std::unique_lock<std::mutex> lock(mutex_);
            const bool cancelled = wake_.wait_for(lock, delay, [this] { return cancel_; });
            cancel_ = false;
            lock.unlock();
            callback(cancelled, cancelled ? "" : "device reading 42");
        });
    }
    void cancel() {
        std::lock_guard<std::mutex> lock(mutex_);
        cancel_ = true;
        wake_.notify_one();
    }
    void join() {
        if (worker_.joinable()) {
            worker_.join();
        }
    }
    ~DeviceLibrary() { join(); }

private:
    std::mutex mutex_;
    std::condition_variable wake_;
    bool cancel_ = false;
    std::thread worker_;
};

/// The user-written awaitable over the callback library.
class DeviceRead final : public uvtask::Operation<std::string> {
public:
    DeviceRead(DeviceLibrary* library, std::chrono::milliseconds delay) noexcept
        : library_(library), delay_(delay) {}
    ~DeviceRead() override { library_->join(); }

private:
    void start() override {
        uvtask::Loop* loop = uvtask::Loop::current();
        library_->request(delay_, [this, loop](bool was_cancelled, std::string reading) {
            // On the library's thread: hand the ending to the loop's thread.
            loop->post([this, was_cancelled, reading = std::move(reading)]() mutable {
                if (was_cancelled) {
                    cancelled();  // stopped before it had any effect
                } else {
                    complete(std::move(reading));  // completed (even if a cancel came late)
                }
            });
        });
    }
    void stop() noexcept override { library_->cancel(); }

    DeviceLibrary* library_;
    std::chrono::milliseconds delay_;
};

uvtask::Task<std::string> read_device(DeviceLibrary* library, std::chrono::milliseconds delay) {
    std::string reading = co_await DeviceRead(library, delay);
    co_return reading;
}

// `library` outlives every task: run() ends the spawned "slow read" (cancels and awaits it) before
// it returns, even when a Ctrl-C ends amain first.
uvtask::Task<void> amain(DeviceLibrary* library) {
    Sensor sensor;
    for (int i = 1; i <= 2; ++i) {
        sensor.poke_from_another_thread(i);
        std::string line = co_await uvtask::wait_for(read_sensor(&sensor), 2s);
        std::printf("got %s", line.c_str());
    }
    try {
        co_await uvtask::wait_for(read_sensor(&sensor), 20ms);  // nobody pokes it now
    } catch (const uvtask::TimeoutError&) {
        std::printf("no sensor reading within 20 ms: timed out\n");
    }

    std::string reading = co_await read_device(library, 1ms);
    std::printf("got %s\n", reading.c_str());
    uvtask::TaskHandle<std::string> slow = uvtask::spawn(read_device(library, 10s), "slow read");
    co_await uvtask::sleep(5ms);
    slow.cancel("stop button");
    try {
        co_await slow;
    } catch (const uvtask::CancelledError& e) {
        std::printf("slow device read cancelled: %s; the library's request was stopped\n",
                    e.message().c_str());
    }
}

}  // namespace

int main() {
    DeviceLibrary library;
    uvtask::run(amain(&library));
}
