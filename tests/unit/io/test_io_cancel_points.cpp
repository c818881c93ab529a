// The I/O awaitables cancelled at each of their suspension points
// (`testing::cancel_at_every_point`): a TCP echo over loopback, a file opened, read and closed,
// to_thread jobs. After every run no descriptor is left open, no job is running, and the data
// is whole when the root completed.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <stop_token>
#include <string>

#include <uvtask/uvtask.hpp>

#include "cancel_points.hpp"
#include "io_test_support.hpp"
#include "tcp_test_support.hpp"

using namespace uvtask;
using uvtask::testing::CancelPointRun;
using uvtask::testing::cover_every_point;
using uvtask::testing::RootEnd;
using uvtask::testing::TempPath;

namespace {

// The process's open descriptors (a file or socket left open by a run shows up here).
std::size_t open_fds() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/fd")) {
        ++n;
    }
    return n;
}

Task<TcpStream> accept_one(TcpListener* listener) { co_return co_await listener->accept(); }

Task<TcpStream> connect_to(SocketAddress address) {
    co_return co_await TcpStream::connect(address);
}

// Connects a pair over loopback (one wait for both ends: the order of the two callbacks does not
// change the points), then echoes "hello" through it.
Task<void> tcp_echo(std::string* echo) {
    TcpListener listener = TcpListener::bind("127.0.0.1", 0);
    auto [server, client] =
        co_await gather(accept_one(&listener), connect_to(listener.local_address()));
    co_await client.write_all("hello");
    std::string got(5, '\0');
    co_await server.read_exact(std::span<char>(got.data(), got.size()));
    co_await server.write_all(got);
    std::string back(5, '\0');
    co_await client.read_exact(std::span<char>(back.data(), back.size()));
    *echo = back;
}

Task<void> read_whole(std::string path, std::string* out) {
    File file = co_await File::open(path);
    std::string buffer(64, '\0');
    const std::size_t n = co_await file.read(std::span<char>(buffer.data(), buffer.size()));
    co_await file.close();
    *out = buffer.substr(0, n);
}

struct Jobs {
    std::atomic<int> started{0};
    std::atomic<int> ended{0};
    int results = 0;
};

Task<void> two_jobs(Jobs* jobs) {
    for (int i = 0; i < 2; ++i) {
        jobs->results += co_await to_thread([jobs](std::stop_token) {
            jobs->started.fetch_add(1);
            jobs->ended.fetch_add(1);
            return 1;
        });
    }
}

}  // namespace

TEST_SUITE("io_cancel_points") {
    TEST_CASE("a TCP echo over loopback cancelled at every point: no socket left, the echo whole") {
        std::string echo;
        // libuv opens process-wide descriptors on first use: counted from after a first echo.
        uvtask::testing::run_test(tcp_echo(&echo));
        const std::size_t fds = open_fds();
        cover_every_point(
            "TCP echo",
            [&echo] {
                echo.clear();
                return tcp_echo(&echo);
            },
            [&](const CancelPointRun& run) {
                CHECK(open_fds() == fds);
                if (run.end == RootEnd::completed) {
                    CHECK(echo == "hello");
                } else {
                    CHECK(echo.empty());
                }
            });
    }

    TEST_CASE("a file opened, read and closed, cancelled at every point: the file is closed") {
        const TempPath path("cancel-points-file");
        { std::ofstream(path.str()) << "some data"; }
        const std::size_t fds = open_fds();
        std::string content;
        cover_every_point(
            "File open/read/close",
            [&] {
                content.clear();
                return read_whole(path.str(), &content);
            },
            [&](const CancelPointRun& run) {
                CHECK(open_fds() == fds);
                if (run.end == RootEnd::completed) {
                    CHECK(content == "some data");
                }
            });
    }

    TEST_CASE(
        "to_thread jobs cancelled at every point: no job left running, each result taken "
        "once") {
        std::unique_ptr<Jobs> jobs;
        cover_every_point(
            "to_thread",
            [&jobs] {
                jobs = std::make_unique<Jobs>();
                return two_jobs(jobs.get());
            },
            [&jobs](const CancelPointRun& run) {
                CHECK(jobs->started.load() == jobs->ended.load());
                CHECK(jobs->results <= jobs->ended.load());
                if (run.end == RootEnd::completed) {
                    CHECK(jobs->results == 2);
                }
            });
    }
}
