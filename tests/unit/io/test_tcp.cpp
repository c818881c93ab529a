// TCP: TcpListener / TcpStream over loopback — echo, large transfer, and the cancellation rule
// of every awaitable (read_some, read_exact, write_all, connect, accept, shutdown).
#include <uvtask/tcp.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::ByteGenerator;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::closed_port;
using uvtask::testing::connected_tcp_pair;
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

Task<std::size_t> read_some_into(Stream* stream, std::string* out) {
    std::array<char, 64> buffer{};
    const std::size_t n = co_await stream->read_some(buffer);
    out->assign(buffer.data(), n);
    co_return n;
}

Task<void> read_exact_into(Stream* stream, std::string* out, std::size_t size) {
    std::string buffer(size, '\0');
    co_await stream->read_exact(std::span<char>(buffer.data(), buffer.size()));
    *out = buffer;
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
                auto pair = co_await connected_tcp_pair();
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
            TcpStream client =
                co_await TcpStream::connect("localhost", listener.local_address().port());
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

    TEST_CASE("read_some returns what is buffered at once and 0 at the end of the stream") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            co_await client.write_all("abcdef");
            co_await client.shutdown();
            std::string first;
            co_await read_exact_into(&server, &first, 1);  // starts reading; it reads ahead
            CHECK(first == "a");
            auto ready = [&] { return server.buffered() == 5; };
            co_await until(ready);
            std::array<char, 4> small{};
            const std::size_t n = co_await server.read_some(small);
            CHECK(n == 4);
            CHECK(std::string_view(small.data(), 4) == "bcde");
            CHECK(server.buffered() == 1);
            std::string rest;
            const std::size_t second = co_await read_some_into(&server, &rest);
            CHECK(second == 1);
            CHECK(rest == "f");
            const std::size_t end = co_await read_some_into(&server, &rest);
            CHECK(end == 0);
        }());
    }

    TEST_CASE(
        "a read cancelled before data arrived throws CancelledError; the stream stays usable") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            std::string got;
            auto reader = spawn(read_some_into(&server, &got));
            co_await yield_now();  // the reader is now waiting in read_some
            reader.cancel("stop reading");
            bool cancelled = false;
            try {
                co_await reader;
            } catch (const CancelledError& error) {
                cancelled = error.message() == "stop reading";
            }
            CHECK(cancelled);
            CHECK(server.is_open());
            // Bytes arriving after the cancelled read are kept for the next one.
            co_await client.write_all("later");
            co_await sleep(5ms);
            const std::size_t n = co_await read_some_into(&server, &got);
            CHECK(n == 5);
            CHECK(got == "later");
        }());
    }

    TEST_CASE("data that arrived before the cancel reached a read is returned, not lost") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            std::string got;
            auto reader = spawn([](Stream* s, std::string* out) -> Task<bool> {
                std::array<char, 64> buffer{};
                const std::size_t n = co_await s->read_some(buffer);
                out->assign(buffer.data(), n);
                const bool pending = this_task::cancel_requested();  // arrived after completion
                try {
                    co_await yield_now();
                } catch (const CancelledError&) {
                    co_return pending;  // delivered at the next suspension point
                }
                co_return false;
            }(&server, &got));
            co_await yield_now();
            CancelAfterCompletion canceller(reader);
            co_await client.write_all("raced");  // uv_try_write: no suspension
            const bool cancel_came_after = co_await reader;
            CHECK(canceller.fired());
            CHECK(cancel_came_after);
            CHECK(got == "raced");
        }());
    }

    TEST_CASE("a read_exact cancelled after part of the data arrived leaves those bytes buffered") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            std::string got;
            auto reader = spawn(read_exact_into(&server, &got, 10));
            co_await client.write_all("abcd");
            auto ready = [&] { return server.buffered() == 4; };
            co_await until(ready);
            reader.cancel();
            CHECK_THROWS_AS(co_await reader, CancelledError);
            CHECK(got.empty());
            CHECK(server.buffered() == 4);
            co_await client.write_all("efghij");
            co_await read_exact_into(&server, &got, 10);
            CHECK(got == "abcdefghij");
        }());
    }

    TEST_CASE("read_exact at the end of the stream is an IoError EOF and keeps the partial bytes") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            co_await client.write_all("xyz");
            client.close();
            std::string got;
            int status = 0;
            try {
                co_await read_exact_into(&server, &got, 8);
            } catch (const IoError& error) {
                status = error.uv_status();
                CHECK(error.operation() == "read_exact");
            }
            CHECK(status == UV_EOF);
            const std::size_t n = co_await read_some_into(&server, &got);
            CHECK(n == 3);
            CHECK(got == "xyz");
        }());
    }

    TEST_CASE("a second concurrent read on the same stream is an InvalidStateError") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            std::string first;
            auto reader = spawn(read_some_into(&server, &first));
            co_await yield_now();
            std::string second;
            CHECK_THROWS_AS(co_await read_some_into(&server, &second), InvalidStateError);
            co_await client.write_all("one");
            const std::size_t n = co_await reader;
            CHECK(n == 3);
            CHECK(first == "one");
        }());
    }

    TEST_CASE("closing a stream while a task reads it wakes the reader with IoError ECANCELED") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& server = pair.second;
            std::string got;
            auto reader = spawn(read_some_into(&server, &got));
            co_await yield_now();
            server.close();
            int status = 0;
            try {
                co_await reader;
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_ECANCELED);
            CHECK_FALSE(server.is_open());
        }());
    }

    TEST_CASE("a write cancelled while bytes are still queued closes the stream") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            // Nobody reads the server side: the socket buffers fill and the write stays queued.
            std::vector<std::byte> data(32u << 20, std::byte{7});
            auto writer = spawn([](TcpStream* s, std::span<const std::byte> d) -> Task<void> {
                co_await s->write_all(d);
            }(&client, data));
            auto ready = [&] { return client.write_queue_size() > 0; };
            co_await until(ready);
            writer.cancel("give up");
            CHECK_THROWS_AS(co_await writer, CancelledError);
            // Broken: closed, and every later operation says so.
            CHECK_FALSE(client.is_open());
            int status = 0;
            try {
                co_await client.write_all("more");
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EBADF);
            // The peer reads a truncated stream, then its end.
            const std::string received = co_await read_to_end(&server);
            CHECK(received.size() < data.size());
        }());
    }

    TEST_CASE("a write whose bytes all reached the kernel completes despite a cancel") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            std::vector<std::byte> data(16u << 20, std::byte{1});
            auto writer = spawn([](TcpStream* s, std::span<const std::byte> d) -> Task<bool> {
                co_await s->write_all(d);
                co_return this_task::cancel_requested();
            }(&client, data));
            auto ready = [&] { return client.write_queue_size() > 0; };
            co_await until(ready);
            // Cancel as soon as libuv has handed the last byte to the kernel.
            CancelAfterCompletion canceller(writer, [&] { return client.write_queue_size() == 0; });
            auto drain = spawn(read_to_end(&server));
            const bool cancel_pending = co_await writer;
            CHECK(canceller.fired());
            CHECK(cancel_pending);
            CHECK(client.is_open());  // completed: not broken
            co_await client.shutdown();
            const std::string received = co_await drain;
            CHECK(received.size() == data.size());
        }());
    }

    TEST_CASE("writing to a closed stream is an IoError EBADF") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            client.close();
            client.close();  // idempotent
            int status = 0;
            std::string what;
            try {
                co_await client.write_all("x");
            } catch (const IoError& error) {
                status = error.uv_status();
                what = error.what();
            }
            CHECK(status == UV_EBADF);
            CHECK(what.find("write_all") != std::string::npos);
            TcpStream empty;
            CHECK_THROWS_AS(co_await empty.write("x"), IoError);
        }());
    }

    TEST_CASE("writing to a stream whose peer closed is an IoError EPIPE or ECONNRESET") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            server.close();
            int status = 0;
            const std::string chunk(64 * 1024, 'z');
            for (int i = 0; i < 1000 && status == 0; ++i) {
                try {
                    co_await client.write_all(chunk);
                } catch (const IoError& error) {
                    status = error.uv_status();
                }
            }
            CHECK((status == UV_EPIPE || status == UV_ECONNRESET));
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

    TEST_CASE("write returns how many bytes it wrote; write_all writes them all") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            const std::size_t some = co_await client.write("0123456789");
            CHECK(some >= 1);
            CHECK(some <= 10);
            co_await client.write_all(std::string_view("0123456789").substr(some));
            const std::size_t none = co_await client.write("");
            CHECK(none == 0);
            std::string got;
            co_await read_exact_into(&server, &got, 10);
            CHECK(got == "0123456789");
        }());
    }

    TEST_CASE("a connect that completed before the cancel reached it returns the stream") {
        run_test([]() -> Task<void> {
            TcpListener listener = TcpListener::bind("127.0.0.1", 0);
            bool started = false;
            auto connecting = spawn([](SocketAddress a, bool* go) -> Task<bool> {
                *go = true;
                TcpStream stream = co_await TcpStream::connect(a);
                const bool usable = stream.is_open();
                co_return usable&& this_task::cancel_requested();
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
            auto accepting =
                spawn([](TcpListener* l) -> Task<void> { (void)co_await l->accept(); }(&listener));
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
            auto accepting =
                spawn([](TcpListener* l) -> Task<void> { (void)co_await l->accept(); }(&listener));
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

    TEST_CASE("a pending cancel is thrown by write_all, read_some and connect before they start") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            TaskHandle<int> self;
            auto task = spawn([](TaskHandle<int>* me, TcpStream* c, TcpStream* s) -> Task<int> {
                int thrown = 0;
                me->cancel();
                try {
                    co_await c->write_all("never");
                } catch (const CancelledError&) {
                    ++thrown;
                }
                me->cancel();
                try {
                    std::array<char, 8> buffer{};
                    (void)co_await s->read_some(buffer);
                } catch (const CancelledError&) {
                    ++thrown;
                }
                me->cancel();
                try {
                    (void)co_await TcpStream::connect(c->peer_address());
                } catch (const CancelledError&) {
                    ++thrown;
                }
                co_await c->write_all("after");
                co_return thrown;
            }(&self, &client, &server));
            self = task;
            const int thrown = co_await task;
            CHECK(thrown == 3);
            // Nothing of the cancelled write reached the peer.
            std::string got;
            co_await read_exact_into(&server, &got, 5);
            CHECK(got == "after");
            CHECK(server.buffered() == 0);
        }());
    }

    TEST_CASE("shutdown makes the peer read the end of the stream; reading goes on") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_tcp_pair();
            TcpStream& client = pair.first;
            TcpStream& server = pair.second;
            co_await client.write_all("last words");
            co_await client.shutdown();
            const std::string received = co_await read_to_end(&server);
            CHECK(received == "last words");
            co_await server.write_all("reply");
            server.close();
            const std::string reply = co_await read_to_end(&client);
            CHECK(reply == "reply");
        }());
    }

    TEST_CASE("tasks left waiting in read, accept and write end cancelled, leaking nothing") {
        run_test([]() -> Task<void> {
            // Each task owns its objects and is left waiting; run_test cancels and awaits them,
            // then checks that uv_loop_close returns 0.
            auto for_reader = co_await connected_tcp_pair();
            auto for_writer = co_await connected_tcp_pair();
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
                auto for_reader = co_await connected_tcp_pair();
                auto for_writer = co_await connected_tcp_pair();
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
