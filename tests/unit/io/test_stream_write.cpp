// Stream writes and shutdown over a loopback TCP pair: a write cancelled while bytes are queued
// breaks the stream, one whose bytes reached the kernel completes, errors, and a pending cancel
// thrown before an operation starts.
#include <uvtask/stream.hpp>

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

TEST_SUITE("stream") {
    TEST_CASE("a write cancelled while bytes are still queued closes the stream") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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

    TEST_CASE("write returns how many bytes it wrote; write_all writes them all") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_pair();
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

    TEST_CASE("a pending cancel is thrown by write_all, read_some and connect before they start") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
}
