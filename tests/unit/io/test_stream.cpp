// Stream: the write queue — concurrent writers, a peer that reads slowly, and what cancelling one
// write does to the others (over a TCP loopback pair; the rules are those of every Stream).
#include <uvtask/stream.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "tcp_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::ByteGenerator;
using uvtask::testing::connected_pair;
using uvtask::testing::read_to_end;
using uvtask::testing::run_test;
using uvtask::testing::until;

namespace {

// Larger than loopback's socket buffers (a few MiB each way): a write of this size with a peer
// that does not read stays queued in libuv.
constexpr std::size_t big = 16u << 20;

std::vector<std::byte> pattern(std::size_t size, std::uint64_t seed) {
    std::vector<std::byte> data(size);
    ByteGenerator(seed).fill(data);
    return data;
}

/// `write_all(data)`; sets `*started` (if given) right before it suspends.
Task<void> write_all_of(Stream* stream, std::span<const std::byte> data, bool* started) {
    if (started != nullptr) {
        *started = true;
    }
    co_await stream->write_all(data);
}

/// `shutdown()`; sets `*started` right before it suspends.
Task<void> shut_down(Stream* stream, bool* started) {
    *started = true;
    co_await stream->shutdown();
}

/// Reads exactly `size` bytes.
Task<std::vector<std::byte>> read_bytes(Stream* stream, std::size_t size) {
    std::vector<std::byte> out(size);
    (void)co_await stream->read_exact(std::span<std::byte>(out));
    co_return out;
}

/// The first write fills the socket buffers and stays queued (the peer does not read yet); the
/// returned task is that writer.
Task<TaskHandle<void>> start_queued_write(Stream* stream, std::span<const std::byte> data) {
    TaskHandle<void> writer = spawn(write_all_of(stream, data, nullptr));
    auto queued = [stream] { return stream->write_queue_size() > 0; };
    co_await until(queued);
    co_return writer;
}

}  // namespace

TEST_SUITE("stream") {
    TEST_CASE(
        "cancelling a write queued behind another task's write leaves that write whole and "
        "the stream usable") {
        run_test(
            []() -> Task<void> {
                auto pair = co_await connected_pair();
                TcpStream& client = pair.first;
                TcpStream& server = pair.second;
                const std::vector<std::byte> first = pattern(big, 1);
                const std::vector<std::byte> second = pattern(1u << 20, 2);
                TaskHandle<void> writer_a = co_await start_queued_write(&client, first);
                bool b_started = false;
                auto writer_b = spawn(write_all_of(&client, second, &b_started));
                auto b_waits = [&] { return b_started; };
                co_await until(b_waits);  // B waits behind A
                writer_b.cancel("give up B");
                CHECK_THROWS_AS(co_await writer_b, CancelledError);
                CHECK(client.is_open());
                // The peer reads now: all of A arrives, nothing of B.
                const std::vector<std::byte> received = co_await read_bytes(&server, first.size());
                CHECK(received == first);
                co_await writer_a;  // completed normally
                co_await client.write_all("tail");
                co_await client.shutdown();
                const std::string rest = co_await read_to_end(&server);
                CHECK(rest == "tail");
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE(
        "cancelling a shutdown queued behind a write leaves the write whole and the stream "
        "usable") {
        run_test(
            []() -> Task<void> {
                auto pair = co_await connected_pair();
                TcpStream& client = pair.first;
                TcpStream& server = pair.second;
                const std::vector<std::byte> first = pattern(big, 3);
                TaskHandle<void> writer = co_await start_queued_write(&client, first);
                bool shutdown_started = false;
                auto shutting = spawn(shut_down(&client, &shutdown_started));
                auto shutdown_waits = [&] { return shutdown_started; };
                co_await until(shutdown_waits);
                shutting.cancel();
                CHECK_THROWS_AS(co_await shutting, CancelledError);
                CHECK(client.is_open());
                const std::vector<std::byte> received = co_await read_bytes(&server, first.size());
                CHECK(received == first);
                co_await writer;
                co_await client.write_all("still open");
                co_await client.shutdown();
                const std::string rest = co_await read_to_end(&server);
                CHECK(rest == "still open");
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE(
        "a write cancelled while its bytes are queued breaks the stream; the write queued "
        "behind it gets IoError ECANCELED and sends nothing") {
        run_test(
            []() -> Task<void> {
                auto pair = co_await connected_pair();
                TcpStream& client = pair.first;
                TcpStream& server = pair.second;
                const std::vector<std::byte> first = pattern(big, 4);
                const std::vector<std::byte> second(1u << 20, std::byte{0xee});
                TaskHandle<void> writer_a = co_await start_queued_write(&client, first);
                bool b_started = false;
                auto writer_b = spawn(write_all_of(&client, second, &b_started));
                auto b_waits = [&] { return b_started; };
                co_await until(b_waits);
                writer_a.cancel("give up A");
                CHECK_THROWS_AS(co_await writer_a, CancelledError);
                int status = 0;
                std::string what;
                try {
                    co_await writer_b;
                } catch (const IoError& error) {
                    status = error.uv_status();
                    what = error.what();
                }
                CHECK(status == UV_ECANCELED);
                CHECK(what.find("none of this write was sent") != std::string::npos);
                CHECK_FALSE(client.is_open());
                // The peer reads a prefix of A, then the end: not one byte of B.
                const std::string received = co_await read_to_end(&server);
                REQUIRE(received.size() < first.size());
                CHECK(std::memcmp(received.data(), first.data(), received.size()) == 0);
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE(
        "broken_write() tells how many bytes of the cancelled write got out: exactly what "
        "the peer receives") {
        run_test(
            []() -> Task<void> {
                auto pair = co_await connected_pair();
                TcpStream& client = pair.first;
                TcpStream& server = pair.second;
                CHECK_FALSE(client.broken_write().has_value());
                co_await client.write_all("head");  // an earlier write arrives whole
                const std::vector<std::byte> data = pattern(big, 5);
                TaskHandle<void> writer = co_await start_queued_write(&client, data);
                writer.cancel();
                CHECK_THROWS_AS(co_await writer, CancelledError);
                const std::optional<BrokenWrite> broken = client.broken_write();
                REQUIRE(broken.has_value());
                CHECK(broken->size == data.size());
                CHECK(broken->sent > 0);
                CHECK(broken->sent < data.size());
                const std::string received = co_await read_to_end(&server);
                REQUIRE(received.size() == 4 + broken->sent);
                CHECK(received.substr(0, 4) == "head");
                CHECK(std::memcmp(received.data() + 4, data.data(), broken->sent) == 0);
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE("broken_write() is empty after a plain close and on an empty stream") {
        run_test([]() -> Task<void> {
            auto pair = co_await connected_pair();
            pair.first.close();
            CHECK_FALSE(pair.first.broken_write().has_value());
            CHECK_FALSE(TcpStream().broken_write().has_value());
        }());
    }

    TEST_CASE(
        "writes from several tasks behind a slow peer arrive in the order they were started, "
        "each whole") {
        run_test(
            []() -> Task<void> {
                auto pair = co_await connected_pair();
                TcpStream& client = pair.first;
                TcpStream& server = pair.second;
                std::vector<std::vector<std::byte>> parts;
                parts.push_back(pattern(big, 10));
                for (std::uint64_t i = 0; i < 4; ++i) {
                    parts.push_back(pattern((1u << 20) + i * 4099, 11 + i));
                }
                std::vector<TaskHandle<void>> writers;
                writers.push_back(co_await start_queued_write(&client, parts[0]));
                auto started = std::make_unique<bool[]>(parts.size());
                for (std::size_t i = 1; i < parts.size(); ++i) {
                    bool* flag = &started[i];
                    writers.push_back(spawn(write_all_of(&client, parts[i], flag)));
                    auto waiting = [flag] { return *flag; };
                    co_await until(waiting);  // started in this order
                }
                for (const auto& part : parts) {
                    const std::vector<std::byte> received =
                        co_await read_bytes(&server, part.size());
                    CHECK(received == part);
                }
                for (auto& writer : writers) {
                    co_await writer;
                }
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE("closing a stream wakes the writes waiting for their turn with IoError ECANCELED") {
        run_test(
            []() -> Task<void> {
                auto pair = co_await connected_pair();
                TcpStream& client = pair.first;
                const std::vector<std::byte> first = pattern(big, 20);
                const std::vector<std::byte> second(4096, std::byte{1});
                TaskHandle<void> writer_a = co_await start_queued_write(&client, first);
                bool b_started = false;
                auto writer_b = spawn(write_all_of(&client, second, &b_started));
                auto b_waits = [&] { return b_started; };
                co_await until(b_waits);
                client.close();
                for (TaskHandle<void>* writer : {&writer_a, &writer_b}) {
                    int status = 0;
                    try {
                        co_await *writer;
                    } catch (const IoError& error) {
                        status = error.uv_status();
                    }
                    CHECK(status == UV_ECANCELED);
                }
            }(),
            {.watchdog = 60s});
    }

    TEST_CASE("a loop destroyed while writes wait in libuv and for their turn frees everything") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        std::size_t reports = 0;
        {
            Loop adopted(&loop);
            adopted.set_exception_handler([&](const ExceptionContext&) { ++reports; });
            auto setup = spawn([]() -> Task<void> {
                auto pair = co_await connected_pair();
                // Each writer owns its data; the pair lives in a task that waits forever.
                (void)spawn([](std::pair<TcpStream, TcpStream> p) -> Task<void> {
                    std::vector<std::byte> a = pattern(big, 30);
                    std::vector<std::byte> b = pattern(4096, 31);
                    auto writer_a = spawn(write_all_of(&p.first, a, nullptr));
                    auto writer_b = spawn(write_all_of(&p.first, b, nullptr));
                    co_await writer_a;
                    co_await writer_b;
                }(std::move(pair)));
            }());
            while (!setup.done()) {
                uv_run(&loop, UV_RUN_ONCE);
            }
            for (int i = 0; i < 20; ++i) {
                uv_run(&loop, UV_RUN_NOWAIT);  // A waits in libuv, B for its turn
            }
            CHECK(adopted.live_tasks() == 3);
        }  // destroys the pending frames: B leaves the queue, A's stream is closed
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        CHECK(reports == 3);
    }
}
