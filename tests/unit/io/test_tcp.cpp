// TCP: TcpListener / TcpStream over loopback — echo, a large transfer, connect, bind, accept and
// their cancellation, and teardown with operations pending. The Stream operations (read, write,
// shutdown) over TCP: test_stream_read.cpp and test_stream_write.cpp.
#include <uvtask/tcp.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "tcp_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::ByteGenerator;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::closed_port;
using uvtask::testing::connected_pair;
using uvtask::testing::read_exact_into;
using uvtask::testing::read_some_into;
using uvtask::testing::read_to_end;
using uvtask::testing::run_test;
using uvtask::testing::StalledListener;
using uvtask::testing::until;

namespace {

/// Echoes everything it reads until the peer shuts down, then closes.
Task<void> echo_connection(TcpStream stream) {
    std::array<char, 4096> buffer{};
    while (true) {
        const std::size_t n = co_await stream.read_some(buffer);
        if (n == 0) {
            break;
        }
        co_await stream.write_all(std::string_view(buffer.data(), n));
    }
}

Task<void> echo_server(TcpListener* listener, int connections) {
    std::vector<TaskHandle<void>> handlers;
    for (int i = 0; i < connections; ++i) {
        TcpStream stream = co_await listener->accept();
        handlers.push_back(spawn(echo_connection(std::move(stream))));
    }
    for (auto& handler : handlers) {
        co_await handler;
    }
}

Task<std::string> echo_round_trip(SocketAddress address, std::string message) {
    TcpStream client = co_await TcpStream::connect(address);
    co_await client.write_all(message);
    co_await client.shutdown();
    std::string reply = co_await read_to_end(&client);
    co_return reply;
}

Task<void> wait_in_read(std::pair<TcpStream, TcpStream> pair) {
    std::array<char, 8> buffer{};
    (void)co_await pair.second.read_some(buffer);  // the peer never writes
}

Task<void> wait_in_accept(TcpListener listener) { (void)co_await listener.accept(); }

Task<void> wait_in_write(std::pair<TcpStream, TcpStream> pair) {
    std::vector<std::byte> data(32u << 20);  // the peer never reads: the write stays queued
    co_await pair.first.write_all(std::span<const std::byte>(data));
}

}  // namespace

TEST_SUITE("tcp") {
    TEST_CASE("an echo server and client exchange messages over IPv4 loopback") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            CHECK(listener.local_address().port() != 0);
            auto server = spawn(echo_server(&listener, 2));
            const std::string first = co_await echo_round_trip(listener.local_address(), "hello");
            const std::string second =
                co_await echo_round_trip(listener.local_address(), std::string(100'000, 'x'));
            CHECK(first == "hello");
            CHECK(second == std::string(100'000, 'x'));
            co_await server;
        }());
    }

    TEST_CASE("an echo server and client exchange messages over IPv6 loopback") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("::1", 0, {.backlog = 16, .ipv6_only = true});
            CHECK(listener.local_address().is_v6());
            auto server = spawn(echo_server(&listener, 1));
            const std::string reply = co_await echo_round_trip(listener.local_address(), "six");
            CHECK(reply == "six");
            co_await server;
        }());
    }

    TEST_CASE("a 64 MiB transfer arrives intact, byte for byte") {
        run_test(
            []() -> Task<void> {
                constexpr std::size_t total = 64u << 20;
                auto pair = co_await connected_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
                client.set_nodelay(true);
                auto receiver = spawn([](TcpStream* stream) -> Task<std::size_t> {
                    ByteGenerator expected(42);
                    std::vector<std::byte> buffer(256 * 1024);
                    std::size_t received = 0;
                    std::size_t mismatches = 0;
                    while (true) {
                        const std::size_t n = co_await stream->read_some(std::span(buffer));
                        if (n == 0) {
                            break;
                        }
                        for (std::size_t i = 0; i < n; ++i) {
                            mismatches += buffer[i] != expected.next() ? 1 : 0;
                        }
                        received += n;
                    }
                    CHECK(mismatches == 0);
                    co_return received;
                }(&server));
                std::vector<std::byte> data(total);
                ByteGenerator(42).fill(data);
                co_await client.write_all(std::span<const std::byte>(data));  // one uv_write
                co_await client.shutdown();
                const std::size_t received = co_await receiver;
                CHECK(received == total);
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE("TcpStream::connect(host, port) resolves the name and connects") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            auto server = spawn(echo_server(&listener, 1));
            TcpStream client = co_await TcpStream::connect("localhost", listener.local_address().port());
            CHECK(client.peer_address() == listener.local_address());
            CHECK(client.local_address().ip() == "127.0.0.1");
            client.set_keepalive(true, 30s);
            client.set_nodelay(true);
            co_await client.write_all("ping");
            co_await client.shutdown();
            const std::string reply = co_await read_to_end(&client);
            CHECK(reply == "ping");
            co_await server;
        }());
    }

    TEST_CASE("connecting to a closed port is an IoError ECONNREFUSED naming the address") {
        run_test([]() -> Task<void> {
            const SocketAddress address = SocketAddress::parse("127.0.0.1", closed_port());
            int status = 0;
            std::string detail;
            try {
                (void)co_await TcpStream::connect(address);
            } catch (const IoError& error) {
                status = error.uv_status();
                detail = error.detail();
                CHECK(error.code() == std::errc::connection_refused);
            }
            CHECK(status == UV_ECONNREFUSED);
            CHECK(detail == address.to_string());
        }());
    }

    TEST_CASE("a connect cancelled while pending throws CancelledError and leaves nothing open") {
        run_test([]() -> Task<void> {
            StalledListener stalled;  // its queue is full: the SYN is dropped, connect hangs
            auto connecting = spawn([](SocketAddress a) -> Task<void> {
                (void)co_await TcpStream::connect(a);
            }(stalled.address()));
            co_await sleep(20ms);  // certainly waiting for the handshake by now
            CHECK_FALSE(connecting.done());
            connecting.cancel();
            CHECK_THROWS_AS(co_await connecting, CancelledError);
        }());  // run_test checks that no handle is left (uv_loop_close == 0)
    }

    TEST_CASE("wait_for bounds a connect to a server that never answers: TimeoutError") {
        run_test([]() -> Task<void> {
            StalledListener stalled;
            bool timed_out = false;
            try {
                TcpStream never = co_await wait_for(TcpStream::connect(stalled.address()), 50ms);
                (void)never;
            } catch (const TimeoutError&) {
                timed_out = true;  // the connect was cancelled (socket closed) before this
            }
            CHECK(timed_out);
        }());  // run_test: no handle left behind
    }

    TEST_CASE("a connect that completed before the cancel reached it returns the stream") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            bool started = false;
            auto connecting = spawn([](SocketAddress a, bool* go) -> Task<bool> {
                *go = true;
                TcpStream stream = co_await TcpStream::connect(a);
                const bool usable = stream.is_open();
                co_return usable && this_task::cancel_requested();
            }(listener.local_address(), &started));
            CancelAfterCompletion canceller(
                connecting, [&] { return started && uvtask::testing::some_task_ready(); });
            const bool connected_then_cancelled = co_await connecting;
            CHECK(canceller.fired());
            CHECK(connected_then_cancelled);
        }());
    }

    TEST_CASE("a cancelled accept takes no connection: the next accept gets it") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            auto accepting = spawn([](TcpListener* l) -> Task<void> {
                (void)co_await l->accept();
            }(&listener));
            co_await yield_now();
            accepting.cancel();
            CHECK_THROWS_AS(co_await accepting, CancelledError);
            auto server = spawn(echo_server(&listener, 1));
            const std::string reply = co_await echo_round_trip(listener.local_address(), "after");
            CHECK(reply == "after");
            co_await server;
        }());
    }

    TEST_CASE("a connection accepted before the cancel reached accept is returned") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            auto accepting = spawn([](TcpListener* l) -> Task<bool> {
                TcpStream stream = co_await l->accept();
                co_return stream.is_open() && this_task::cancel_requested();
            }(&listener));
            co_await yield_now();
            CancelAfterCompletion canceller(accepting);
            // A blocking connect from this thread: no other task becomes ready meanwhile.
            const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
            REQUIRE(::connect(fd, listener.local_address().native(), sizeof(sockaddr_in)) == 0);
            const bool accepted_then_cancelled = co_await accepting;
            ::close(fd);
            CHECK(canceller.fired());
            CHECK(accepted_then_cancelled);
        }());
    }

    TEST_CASE("closing a listener wakes a waiting accept with IoError ECANCELED; then EBADF") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            auto accepting = spawn([](TcpListener* l) -> Task<void> {
                (void)co_await l->accept();
            }(&listener));
            co_await yield_now();
            listener.close();
            int status = 0;
            try {
                co_await accepting;
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_ECANCELED);
            status = 0;
            try {
                (void)co_await listener.accept();
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EBADF);
        }());
    }

    TEST_CASE("binding an address in use is an IoError EADDRINUSE") {
        run_test([]() -> Task<void> {
            TcpListener first = TcpListener::bind("127.0.0.1", 0);
            int status = 0;
            try {
                TcpListener second = TcpListener::bind(first.local_address());
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EADDRINUSE);
            CHECK_THROWS_AS((void)SocketAddress::parse("not-an-ip", 1), IoError);
            co_return;
        }());
    }

    TEST_CASE("listeners with reuse_port share a port, each accepting connections") {
        run_test([]() -> Task<void> {
            TcpListenOptions shared;
            shared.reuse_port = true;
            TcpListener first = TcpListener::bind("127.0.0.1", 0, shared);
            const SocketAddress address = first.local_address();
            TcpListener second = TcpListener::bind(address, shared);  // no EADDRINUSE
            CHECK(second.local_address().port() == address.port());
            int status = 0;
            try {
                TcpListener unshared = TcpListener::bind(address);  // it must opt in too
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EADDRINUSE);
            // Only `second` listens now: every connection goes to it.
            first.close();
            TcpStream client = co_await TcpStream::connect(address);
            TcpStream served = co_await second.accept();
            co_await client.write_all("ping");
            std::string got(4, '\0');
            co_await served.read_exact(std::span<char>(got));
            CHECK(got == "ping");
        }());
    }

    TEST_CASE("tasks left waiting in read, accept and write end cancelled, leaking nothing") {
        run_test([]() -> Task<void> {
            // Each task owns its objects and is left waiting; run_test cancels and awaits them,
            // then checks that uv_loop_close returns 0.
            auto for_reader = co_await connected_pair();
            auto for_writer = co_await connected_pair();
            (void)spawn(wait_in_read(std::move(for_reader)));
            (void)spawn(wait_in_accept(TcpListener::bind("127.0.0.1", 0)));
            (void)spawn(wait_in_write(std::move(for_writer)));
            co_await sleep(10ms);
        }());
    }

    TEST_CASE("a loop destroyed while operations are pending frees every handle and request") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        std::vector<std::string> reports;
        {
            Loop adopted(&loop);
            adopted.set_exception_handler(
                [&](const ExceptionContext& context) { reports.push_back(context.message); });
            StalledListener stalled;
            auto setup = spawn([](SocketAddress stalled_address) -> Task<void> {
                auto for_reader = co_await connected_pair();
                auto for_writer = co_await connected_pair();
                (void)spawn(wait_in_read(std::move(for_reader)));
                (void)spawn(wait_in_accept(TcpListener::bind("127.0.0.1", 0)));
                (void)spawn(wait_in_write(std::move(for_writer)));
                (void)spawn([](SocketAddress a) -> Task<void> {
                    (void)co_await TcpStream::connect(a);
                }(stalled_address));
            }(stalled.address()));
            while (!setup.done()) {
                uv_run(&loop, UV_RUN_ONCE);
            }
            for (int i = 0; i < 20; ++i) {
                uv_run(&loop, UV_RUN_NOWAIT);  // everyone is now waiting in libuv
            }
            CHECK(adopted.live_tasks() == 4);
        }  // destroys the four pending frames: their awaiters hand everything to libuv
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        CHECK(reports.size() == 4);  // "Task was destroyed but it is pending!"
    }
}
