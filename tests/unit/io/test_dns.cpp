// resolve(): uv_getaddrinfo, with loopback names and the reserved .invalid TLD only.
#include <uvtask/dns.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "io_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::PoolBlocker;
using uvtask::testing::run_test;

namespace {
Task<std::vector<SocketAddress>> resolve_task(std::string host, std::uint16_t port) {
    std::vector<SocketAddress> addresses = co_await resolve(host, port);
    co_return addresses;
}
}  // namespace

TEST_SUITE("dns") {
    TEST_CASE("resolving localhost gives loopback addresses with the port") {
        run_test([]() -> Task<void> {
            const std::vector<SocketAddress> addresses = co_await resolve("localhost", 8080);
            REQUIRE_FALSE(addresses.empty());
            for (const SocketAddress& address : addresses) {
                CHECK(address.port() == 8080);
                CHECK((address.ip() == "127.0.0.1" || address.ip() == "::1"));
            }
            const std::vector<SocketAddress> v4 = co_await resolve("localhost", 1, {.family = AF_INET});
            CHECK(std::all_of(v4.begin(), v4.end(), [](const SocketAddress& a) { return a.is_v4(); }));
        }());
    }

    TEST_CASE("resolving a numeric address needs no lookup and returns it") {
        run_test([]() -> Task<void> {
            const std::vector<SocketAddress> addresses = co_await resolve("::1", 443);
            REQUIRE(addresses.size() == 1);
            CHECK(addresses[0].to_string() == "[::1]:443");
        }());
    }

    TEST_CASE("resolving a name that does not exist is an IoError naming the host") {
        run_test([]() -> Task<void> {
            bool thrown = false;
            try {
                (void)co_await resolve("no-such-host.invalid", 80);  // reserved: never exists
            } catch (const IoError& error) {
                thrown = true;
                CHECK(error.operation() == "resolve");
                CHECK(error.detail() == "no-such-host.invalid");
                CHECK(error.uv_name().rfind("EAI_", 0) == 0);  // EAI_NONAME (or EAI_AGAIN)
                CHECK(std::string(error.what()).find("no-such-host.invalid") != std::string::npos);
            }
            CHECK(thrown);
        }());
    }

    TEST_CASE("a resolve cancelled before a pool thread ran it throws CancelledError") {
        run_test([]() -> Task<void> {
            auto pool = co_await PoolBlocker::occupy();
            auto resolving = spawn(resolve_task("localhost", 80));
            co_await sleep(5ms);
            CHECK_FALSE(resolving.done());
            resolving.cancel();
            CHECK_THROWS_AS(co_await resolving, CancelledError);  // uv_cancel'led
            co_await pool->release();
            // The resolver is usable afterwards.
            const auto addresses = co_await resolve("localhost", 80);
            CHECK_FALSE(addresses.empty());
        }());
    }

    TEST_CASE("a resolve that completed before the cancel reached it returns the addresses") {
        run_test([]() -> Task<void> {
            bool started = false;
            auto resolving = spawn([](bool* go) -> Task<bool> {
                *go = true;
                const auto addresses = co_await resolve("localhost", 80);
                co_return !addresses.empty() && this_task::cancel_requested();
            }(&started));
            CancelAfterCompletion canceller(
                resolving, [&] { return started && uvtask::testing::some_task_ready(); });
            const bool resolved_then_cancelled = co_await resolving;
            CHECK(canceller.fired());
            CHECK(resolved_then_cancelled);
        }());
    }

    TEST_CASE("a task destroyed while its resolve is queued leaks nothing") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        int reports = 0;
        {
            Loop adopted(&loop);
            adopted.set_exception_handler([&](const ExceptionContext&) { ++reports; });
            auto setup = spawn([]() -> Task<std::unique_ptr<PoolBlocker>> {
                auto pool = co_await PoolBlocker::occupy();
                co_return pool;
            }());
            while (!setup.done()) {
                uv_run(&loop, UV_RUN_ONCE);
            }
            (void)spawn(resolve_task("localhost", 80));
            for (int i = 0; i < 5; ++i) {
                uv_run(&loop, UV_RUN_NOWAIT);
            }
            CHECK(adopted.live_tasks() == 1 + uvtask::testing::thread_pool_size());
            // The blocking jobs may end now; all the pending tasks die with the loop.
            setup.result()->open();
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(&loop) == 0);
        CHECK(reports == 1 + uvtask::testing::thread_pool_size());  // destroyed while pending
    }
}
