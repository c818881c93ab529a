// Stream reads (read_some, read_exact) over a loopback TCP pair: buffering, the end of the
// stream, cancellation with nothing lost, one reader at a time, a close waking the reader.
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
    TEST_CASE("read_some returns what is buffered at once and 0 at the end of the stream") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_pair();
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

    TEST_CASE("a read cancelled before data arrived throws CancelledError; the stream stays usable") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
            auto pair = co_await connected_pair();
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
}
