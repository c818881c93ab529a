// Pipes: PipeListener / PipeStream over a Unix domain socket in the temp directory.
#include <uvtask/pipe.hpp>

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "tcp_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::read_to_end;
using uvtask::testing::run_test;
using uvtask::testing::TempPath;

namespace {

Task<void> echo_once(PipeListener* listener) {
    PipeStream stream = co_await listener->accept();
    std::array<char, 4096> buffer{};
    while (true) {
        const std::size_t n = co_await stream.read_some(buffer);
        if (n == 0) {
            break;
        }
        co_await stream.write_all(std::string_view(buffer.data(), n));
    }
}

Task<std::string> echo_round_trip(std::string path, std::string message) {
    PipeStream client = co_await PipeStream::connect(path);
    co_await client.write_all(message);
    co_await client.shutdown();
    std::string reply = co_await read_to_end(&client);
    co_return reply;
}

Task<void> accept_one(PipeListener* listener) { (void)co_await listener->accept(); }

}  // namespace

TEST_SUITE("pipe") {
    TEST_CASE("an echo server and client exchange messages over a Unix socket") {
        TempPath path("echo.sock");
        run_test([](std::string p) -> Task<void> {
            PipeListener listener = PipeListener::bind(p);
            CHECK(listener.path() == p);
            auto server = spawn(echo_once(&listener));
            const std::string message(300'000, 'u');  // more than one socket buffer
            const std::string reply = co_await echo_round_trip(p, message);
            CHECK(reply == message);
            co_await server;
        }(path.str()));
    }

    TEST_CASE("connecting to a missing socket is an IoError ENOENT naming the path") {
        TempPath path("missing.sock");
        run_test([](std::string p) -> Task<void> {
            int status = 0;
            std::string detail;
            try {
                (void)co_await PipeStream::connect(p);
            } catch (const IoError& error) {
                status = error.uv_status();
                detail = error.detail();
            }
            CHECK(status == UV_ENOENT);
            CHECK(detail == p);
        }(path.str()));
    }

    TEST_CASE("a path longer than a socket address holds is an IoError ENAMETOOLONG") {
        run_test([]() -> Task<void> {
            const std::string long_path = "/tmp/" + std::string(200, 'p');
            int status = 0;
            try {
                (void)co_await PipeStream::connect(long_path);
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_ENAMETOOLONG);
            CHECK_THROWS_AS((void)PipeListener::bind(long_path), IoError);
        }());
    }

    TEST_CASE("a path with a NUL byte is an IoError EINVAL, for bind and for connect") {
        // Found in review: both truncated the path at the NUL (another socket file).
        run_test([]() -> Task<void> {
            const std::string path("/tmp/uvtask-nul\0suffix", 22);
            int status = 0;
            try {
                (void)co_await PipeStream::connect(path);
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EINVAL);
            int bind_status = 0;
            try {
                (void)PipeListener::bind(path);
            } catch (const IoError& error) {
                bind_status = error.uv_status();
            }
            CHECK(bind_status == UV_EINVAL);
        }());
    }

    TEST_CASE("binding a path that exists is an IoError EADDRINUSE") {
        TempPath path("taken.sock");
        run_test([](std::string p) -> Task<void> {
            PipeListener first = PipeListener::bind(p);
            int status = 0;
            try {
                PipeListener second = PipeListener::bind(p);
            } catch (const IoError& error) {
                status = error.uv_status();
                CHECK(error.operation() == "bind");
            }
            CHECK(status == UV_EADDRINUSE);
            co_return;
        }(path.str()));
    }

    TEST_CASE("a cancelled pipe accept takes no connection: the next accept gets it") {
        TempPath path("accept.sock");
        run_test([](std::string p) -> Task<void> {
            PipeListener listener = PipeListener::bind(p);
            auto accepting = spawn(accept_one(&listener));
            co_await yield_now();
            accepting.cancel();
            CHECK_THROWS_AS(co_await accepting, CancelledError);
            auto server = spawn(echo_once(&listener));
            const std::string reply = co_await echo_round_trip(p, "again");
            CHECK(reply == "again");
            co_await server;
        }(path.str()));
    }

    TEST_CASE("a pipe read cancelled before data arrived keeps the stream usable") {
        TempPath path("read.sock");
        run_test([](std::string p) -> Task<void> {
            PipeListener listener = PipeListener::bind(p);
            auto accepting = spawn([](PipeListener* l) -> Task<PipeStream> {
                PipeStream s = co_await l->accept();
                co_return s;
            }(&listener));
            PipeStream client = co_await PipeStream::connect(p);
            PipeStream server = co_await accepting;
            auto reader = spawn([](PipeStream* s) -> Task<void> {
                std::array<char, 16> buffer{};
                (void)co_await s->read_some(buffer);
            }(&server));
            co_await yield_now();
            reader.cancel();
            CHECK_THROWS_AS(co_await reader, CancelledError);
            co_await client.write_all("kept");
            std::array<char, 4> buffer{};
            co_await server.read_exact(buffer);
            CHECK(std::string_view(buffer.data(), 4) == "kept");
        }(path.str()));
    }

    TEST_CASE("a pipe connect that completed before the cancel reached it returns the stream") {
        TempPath path("race.sock");
        run_test([](std::string p) -> Task<void> {
            PipeListener listener = PipeListener::bind(p);
            bool started = false;
            auto connecting = spawn([](std::string target, bool* go) -> Task<bool> {
                *go = true;
                PipeStream stream = co_await PipeStream::connect(target);
                co_return stream.is_open() && this_task::cancel_requested();
            }(p, &started));
            CancelAfterCompletion canceller(
                connecting, [&] { return started && uvtask::testing::some_task_ready(); });
            const bool connected_then_cancelled = co_await connecting;
            CHECK(canceller.fired());
            CHECK(connected_then_cancelled);
        }(path.str()));
    }
}
