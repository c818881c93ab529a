// UDP: UdpSocket over loopback — datagrams whole and in order, connected sockets, and the
// cancellation rules (a cancelled receive loses no datagram; a send happened or did not).
#include <uvtask/udp.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::run_test;

namespace {

struct Received {
    std::string data;
    SocketAddress sender;
    bool truncated = false;
};

Task<Received> receive_one(UdpSocket* socket, std::size_t capacity = 2048) {
    std::string buffer(capacity, '\0');
    const Datagram datagram =
        co_await socket->receive_from(std::span<char>(buffer.data(), buffer.size()));
    buffer.resize(datagram.size);
    co_return Received{buffer, datagram.sender, datagram.truncated};
}

Task<std::string> receive_connected(UdpSocket* socket) {
    std::array<char, 256> buffer{};
    const std::size_t n = co_await socket->receive(buffer);
    co_return std::string(buffer.data(), n);
}

/// Awaits `inner` and, right after it suspended the task, cancels the task (and closes
/// `close_me` if given) — before libuv runs again, so the cancel reaches the operation while
/// libuv holds it.
template <class Inner>
struct CancelRightAfterSuspending {
    Inner inner;
    TaskHandle<void>* self;
    UdpSocket* close_me;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) {
        const bool suspended = inner.await_suspend(resume_at);
        if (suspended) {
            self->cancel();
            if (close_me != nullptr) {
                close_me->close();
            }
        }
        return suspended;
    }
    auto await_resume() { return inner.await_resume(); }
};

/// Sends "first" through a uv_udp_send request of libuv's own, then `data` with `send_to`: the
/// raw request, not yet called back, makes uv_udp_try_send refuse (EAGAIN), so `send_to` goes
/// through a request of its own and waits; it is cancelled right after it suspended (and the
/// socket closed, with `close`). Sets `*cancel_pending` to whether a cancel is pending after
/// the send completed.
Task<void> send_cancelled_in_libuv(TaskHandle<void>* self, UdpSocket* socket, SocketAddress to,
                                   std::string data, bool close, bool* cancel_pending) {
    static char first[] = "first";
    static uv_udp_send_t raw{};
    uv_buf_t buf = uv_buf_init(first, 5);
    REQUIRE(uv_udp_send(&raw, socket->native_handle(), &buf, 1, to.native(),
                        [](uv_udp_send_t*, int) noexcept {}) == 0);
    REQUIRE(socket->native_handle()->send_queue_count == 1);
    // A named awaitable: GCC 12 mishandles a braced temporary inside a co_await expression.
    CancelRightAfterSuspending<detail::UdpSendAwaiter> send{socket->send_to(data, to), self,
                                                            close ? socket : nullptr};
    co_await send;
    *cancel_pending = this_task::cancel_requested();
}

}  // namespace

TEST_SUITE("udp") {
    TEST_CASE(
        "send_to and receive_from exchange datagrams over IPv4 loopback, whole and in order, "
        "with the sender's address") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            CHECK(a.local_address().port() != 0);
            for (int i = 0; i < 50; ++i) {
                co_await a.send_to("datagram " + std::to_string(i), b.local_address());
            }
            co_await a.send_to("", b.local_address());  // an empty datagram is one too
            for (int i = 0; i < 50; ++i) {
                const Received got = co_await receive_one(&b);
                CHECK(got.data == "datagram " + std::to_string(i));
                CHECK(got.sender == a.local_address());
                CHECK_FALSE(got.truncated);
            }
            const Received empty = co_await receive_one(&b);
            CHECK(empty.data.empty());
            co_await b.send_to(std::string(60'000, 'x'), a.local_address());  // a large one
            const Received large = co_await receive_one(&a, 65'536);
            CHECK(large.data == std::string(60'000, 'x'));
        }());
    }

    TEST_CASE("send_to and receive_from work over IPv6 loopback") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("::1", 0, {.ipv6_only = true});
            UdpSocket b = UdpSocket::bind("::1", 0);
            co_await a.send_to("six", b.local_address());
            const Received got = co_await receive_one(&b);
            CHECK(got.data == "six");
            CHECK(got.sender.is_v6());
            CHECK(got.sender == a.local_address());
        }());
    }

    TEST_CASE("a connected socket sends and receives without addresses") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            a.connect(b.local_address());
            b.connect(a.local_address());
            CHECK(a.peer_address() == b.local_address());
            co_await a.send("ping");
            const std::string ping = co_await receive_connected(&b);
            CHECK(ping == "ping");
            co_await b.send("pong");
            const std::string pong = co_await receive_connected(&a);
            CHECK(pong == "pong");
            int status = 0;
            try {
                co_await a.send_to("x", b.local_address());
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EISCONN);
        }());
    }

    TEST_CASE("a datagram longer than the buffer is flagged truncated; the next one is whole") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            co_await a.send_to("0123456789", b.local_address());
            co_await a.send_to("next", b.local_address());
            const Received cut = co_await receive_one(&b, 4);
            CHECK(cut.data == "0123");
            CHECK(cut.truncated);
            const Received next = co_await receive_one(&b);
            CHECK(next.data == "next");
            CHECK_FALSE(next.truncated);
        }());
    }

    TEST_CASE("a receive cancelled while waiting loses no datagram: the next receive gets it") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            auto receiving = spawn(receive_one(&b));
            co_await yield_now();  // waiting in receive_from
            receiving.cancel("stop");
            CHECK_THROWS_AS(co_await receiving, CancelledError);
            CHECK(b.is_open());
            co_await a.send_to("after", b.local_address());
            co_await a.send_to("again", b.local_address());
            const Received first = co_await receive_one(&b);
            const Received second = co_await receive_one(&b);
            CHECK(first.data == "after");
            CHECK(second.data == "again");
        }());
    }

    TEST_CASE("a datagram that arrived before the cancel reached the receive is returned") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            Received got;
            auto receiving = spawn([](UdpSocket* s, Received* out) -> Task<bool> {
                *out = co_await receive_one(s);
                co_return this_task::cancel_requested();
            }(&b, &got));
            co_await yield_now();
            CancelAfterCompletion canceller(receiving);
            co_await a.send_to("raced", b.local_address());  // uv_udp_try_send: no suspension
            const bool cancel_came_after = co_await receiving;
            CHECK(canceller.fired());
            CHECK(cancel_came_after);
            CHECK(got.data == "raced");
        }());
    }

    TEST_CASE("datagrams read ahead stay queued for later receives, in order") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            auto receiving = spawn(receive_one(&b));
            co_await yield_now();
            for (int i = 0; i < 5; ++i) {
                co_await a.send_to(std::to_string(i), b.local_address());
            }
            const Received first = co_await receiving;
            CHECK(first.data == "0");
            auto all_read = [&] { return b.queued() == 4; };  // read ahead by libuv
            co_await uvtask::testing::until(all_read);
            // A receive cancelled with datagrams queued: it never suspended, so the pending
            // cancel is thrown first and nothing is taken.
            TaskHandle<void> self;
            auto cancelled = spawn([](TaskHandle<void>* me, UdpSocket* s) -> Task<void> {
                me->cancel();
                (void)co_await receive_one(s);
            }(&self, &b));
            self = cancelled;
            CHECK_THROWS_AS(co_await cancelled, CancelledError);
            CHECK(b.queued() == 4);
            for (int i = 1; i < 5; ++i) {
                const Received got = co_await receive_one(&b);
                CHECK(got.data == std::to_string(i));
            }
        }());
    }

    TEST_CASE("a second concurrent receive on the same socket is an InvalidStateError") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            auto first = spawn(receive_one(&b));
            co_await yield_now();
            CHECK_THROWS_AS(co_await receive_one(&b), InvalidStateError);
            co_await a.send_to("one", b.local_address());
            const Received got = co_await first;
            CHECK(got.data == "one");
        }());
    }

    TEST_CASE("a send that libuv holds completes despite a cancel: the datagram arrives whole") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            TaskHandle<void> self;
            bool cancel_pending = false;
            auto sending = spawn(send_cancelled_in_libuv(&self, &a, b.local_address(), "second",
                                                         false, &cancel_pending));
            self = sending;
            co_await sending;       // completed normally: the datagram went out
            CHECK(cancel_pending);  // the cancel waits for the next suspension point
            const Received one = co_await receive_one(&b);
            const Received two = co_await receive_one(&b);
            CHECK(one.data == "first");
            CHECK(two.data == "second");
        }());
    }

    TEST_CASE("a cancelled send that the socket's close stopped sent nothing: CancelledError") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            TaskHandle<void> self;
            bool cancel_pending = false;
            auto sending = spawn(send_cancelled_in_libuv(&self, &a, b.local_address(), "never",
                                                         true, &cancel_pending));
            self = sending;
            CHECK_THROWS_AS(co_await sending, CancelledError);
            UdpSocket c = UdpSocket::bind("127.0.0.1", 0);
            co_await c.send_to("marker", b.local_address());
            const Received one = co_await receive_one(&b);
            const Received two = co_await receive_one(&b);
            CHECK(one.data == "first");
            CHECK(two.data == "marker");  // "never" was not sent
        }());
    }

    TEST_CASE("a pending cancel stops send_to and receive_from before they start") {
        run_test([]() -> Task<void> {
            UdpSocket a = UdpSocket::bind("127.0.0.1", 0);
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            TaskHandle<int> self;
            auto task = spawn([](TaskHandle<int>* me, UdpSocket* from, UdpSocket* to) -> Task<int> {
                int thrown = 0;
                me->cancel();
                try {
                    co_await from->send_to("never", to->local_address());
                } catch (const CancelledError&) {
                    ++thrown;
                }
                me->cancel();
                try {
                    (void)co_await receive_one(to);
                } catch (const CancelledError&) {
                    ++thrown;
                }
                co_await from->send_to("after", to->local_address());
                co_return thrown;
            }(&self, &a, &b));
            self = task;
            const int thrown = co_await task;
            CHECK(thrown == 2);
            const Received got = co_await receive_one(&b);
            CHECK(got.data == "after");  // nothing of the cancelled send
        }());
    }

    TEST_CASE("closing a socket wakes a waiting receive with IoError ECANCELED; then EBADF") {
        run_test([]() -> Task<void> {
            UdpSocket b = UdpSocket::bind("127.0.0.1", 0);
            auto receiving = spawn(receive_one(&b));
            co_await yield_now();
            b.close();
            int status = 0;
            try {
                (void)co_await receiving;
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_ECANCELED);
            CHECK_FALSE(b.is_open());
            status = 0;
            try {
                co_await b.send_to("x", SocketAddress::parse("127.0.0.1", 9));
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EBADF);
            UdpSocket empty;
            CHECK_THROWS_AS((void)empty.local_address(), IoError);
        }());
    }

    TEST_CASE("binding an address in use is an IoError EADDRINUSE; reuse_address allows it") {
        run_test([]() -> Task<void> {
            UdpSocket first = UdpSocket::bind("127.0.0.1", 0);
            int status = 0;
            try {
                UdpSocket second = UdpSocket::bind(first.local_address());
            } catch (const IoError& error) {
                status = error.uv_status();
                CHECK(error.operation() == "bind");
            }
            CHECK(status == UV_EADDRINUSE);
            UdpSocket shared1 = UdpSocket::bind("127.0.0.1", 0, {.reuse_address = true});
            UdpSocket shared2 = UdpSocket::bind(shared1.local_address(), {.reuse_address = true});
            CHECK(shared2.local_address() == shared1.local_address());
            co_return;
        }());
    }

    TEST_CASE("sockets left waiting to receive end cancelled, leaking nothing") {
        run_test([]() -> Task<void> {
            (void)spawn([]() -> Task<void> {
                UdpSocket s = UdpSocket::bind("127.0.0.1", 0);
                (void)co_await receive_one(&s);
            }());
            co_await sleep(5ms);
        }());  // run_test cancels the task and checks uv_loop_close == 0
    }
}
