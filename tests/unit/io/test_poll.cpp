// wait_readable / wait_writable: a foreign descriptor watched with uv_poll_t, cancel-safe.
#include <uvtask/poll.hpp>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <uvtask/uvtask.hpp>

#include "io_test_support.hpp"
#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

struct Pipe {
    int fds[2] = {-1, -1};
    Pipe() { REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0); }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    ~Pipe() {
        for (int fd : fds) {
            if (fd >= 0) {
                ::close(fd);
            }
        }
    }
    [[nodiscard]] int read_end() const { return fds[0]; }
    [[nodiscard]] int write_end() const { return fds[1]; }
};

Task<char> read_one(int fd) {
    co_await wait_readable(fd);
    char byte = 0;
    REQUIRE(::read(fd, &byte, 1) == 1);
    co_return byte;
}

Task<void> wait_on(int fd) { co_await wait_readable(fd); }

}  // namespace

TEST_SUITE("poll") {
    TEST_CASE("wait_readable completes when another thread writes to a pipe") {
        run_test([]() -> Task<void> {
            Pipe pipe;
            TaskHandle<char> reader = spawn(read_one(pipe.read_end()));
            co_await yield_now();  // the reader watches the pipe
            std::thread writer([fd = pipe.write_end()] { REQUIRE(::write(fd, "x", 1) == 1); });
            writer.join();
            const char byte = co_await reader;
            CHECK(byte == 'x');
        }());
    }

    TEST_CASE("wait_writable completes at once on an empty pipe") {
        run_test([]() -> Task<void> {
            Pipe pipe;
            co_await wait_writable(pipe.write_end());
        }());
    }

    TEST_CASE("cancelling wait_readable stops the watch; the descriptor can be watched again") {
        run_test([]() -> Task<void> {
            Pipe pipe;
            TaskHandle<void> waiter = spawn(wait_on(pipe.read_end()));
            co_await yield_now();
            CHECK(waiter.cancel("enough"));
            Ended<void> out = co_await settled(waiter);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "enough");
            REQUIRE(::write(pipe.write_end(), "y", 1) == 1);
            const char byte = co_await read_one(pipe.read_end());  // watched anew: no EEXIST
            CHECK(byte == 'y');
        }());
    }

    TEST_CASE("wait_for(wait_readable(fd), timeout) throws TimeoutError when nothing arrives") {
        run_test([]() -> Task<void> {
            Pipe pipe;
            Ended<void> out = co_await outcome_of(wait_for(wait_readable(pipe.read_end()), 5ms));
            CHECK(out.threw<TimeoutError>());
        }());
    }

    TEST_CASE("a readiness reported before the cancel reaches the wait is delivered") {
        run_test([]() -> Task<void> {
            Pipe pipe;
            REQUIRE(::write(pipe.write_end(), "z", 1) == 1);  // readable before the wait starts
            bool started = false;
            auto body = [](int fd, bool* started) -> Task<std::string> {
                *started = true;
                co_await wait_readable(fd);
                Ended<void> next = co_await outcome_of(wait_on(fd));
                co_return next.threw<CancelledError>() ? "ready, then cancelled" : "?";
            };
            TaskHandle<std::string> task = spawn(body(pipe.read_end(), &started));
            // The first check phase after the wait began: its poll has just reported the pipe
            // readable (the handle is closing), and the cancel arrives before the close ends it.
            uvtask::testing::CancelAfterCompletion cancel(task, [&started] { return started; });
            const std::string result = co_await task;
            CHECK(cancel.fired());
            CHECK(result == "ready, then cancelled");
        }());
    }

    TEST_CASE("a closed descriptor is an IoError EBADF, a regular file one that epoll refuses") {
        run_test([]() -> Task<void> {
            Ended<void> bad = co_await outcome_of(wait_on(987654));
            REQUIRE(bad.threw<IoError>());
            CHECK(bad.as<IoError>()->uv_name() == "EBADF");
            std::FILE* file = std::tmpfile();
            REQUIRE(file != nullptr);
            Ended<void> regular = co_await outcome_of(wait_on(::fileno(file)));
            std::fclose(file);
            CHECK(regular.threw<IoError>());
        }());
    }
}
