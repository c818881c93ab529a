// The load generator of the echo scenario (bench/PROTOCOL.md, "echo"): the same client against
// every server. One thread, plain epoll, no runtime: `--conns` connections to 127.0.0.1:PORT,
// each sending a `--size`-byte message and waiting for its whole echo before sending the next
// (one request in flight per connection). Runs `--warmup-ms`, then counts the round trips
// completed in `--ms`, checks every echo byte for byte, reads the echoes still in flight and
// closes each connection cleanly (no reset), and prints one JSON line on stdout:
//   {"connections": 64, "size": 64, "seconds": 3.0, "requests": N, "req_per_s": R}
//
//   echo_load PORT [--conns 64] [--size 64] [--warmup-ms 500] [--ms 3000]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "echo_load: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

struct Connection {
    int fd = -1;
    std::string message;  // what this connection sends each time
    std::size_t got = 0;  // bytes of the current echo received
    std::vector<char> buffer;
};

void send_message(Connection& c) {
    const ssize_t n = ::send(c.fd, c.message.data(), c.message.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(c.message.size())) {
        die("send");  // a small message into an idle socket's buffer is sent whole
    }
    c.got = 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: echo_load PORT [--conns N] [--size B] [--warmup-ms MS] [--ms MS]\n");
        return 2;
    }
    const int port = std::atoi(argv[1]);
    int conns = 64;
    int size = 64;
    long warmup_ms = 500;
    long ms = 3000;
    for (int i = 2; i + 1 < argc; i += 2) {
        const std::string opt = argv[i];
        const long v = std::atol(argv[i + 1]);
        if (opt == "--conns") {
            conns = static_cast<int>(v);
        } else if (opt == "--size") {
            size = static_cast<int>(v);
        } else if (opt == "--warmup-ms") {
            warmup_ms = v;
        } else if (opt == "--ms") {
            ms = v;
        } else {
            std::fprintf(stderr, "echo_load: unknown option %s\n", opt.c_str());
            return 2;
        }
    }
    if (port <= 0 || port > 65535 || conns <= 0 || size <= 0 || ms <= 0 || warmup_ms < 0) {
        std::fprintf(stderr, "echo_load: bad arguments\n");
        return 2;
    }

    const int ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        die("epoll_create1");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::vector<Connection> connections(static_cast<std::size_t>(conns));
    for (int i = 0; i < conns; ++i) {
        Connection& c = connections[static_cast<std::size_t>(i)];
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
            die("socket");
        }
        if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            die("connect");
        }
        const int one = 1;
        ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c.message.resize(static_cast<std::size_t>(size));
        for (int k = 0; k < size; ++k) {
            c.message[static_cast<std::size_t>(k)] = static_cast<char>('A' + (i + k) % 26);
        }
        c.buffer.resize(static_cast<std::size_t>(size));
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(i);
        if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) {
            die("epoll_ctl");
        }
    }
    for (Connection& c : connections) {
        send_message(c);
    }

    const std::int64_t t_start = now_ns();
    const std::int64_t t_measure = t_start + warmup_ms * 1'000'000;
    const std::int64_t t_end = t_measure + ms * 1'000'000;
    std::int64_t requests = 0;
    bool measuring = warmup_ms == 0;
    bool stopping = false;  // measured long enough: waiting for the echoes still in flight
    int in_flight = conns;
    double seconds = 0;
    std::vector<epoll_event> events(static_cast<std::size_t>(conns));
    for (;;) {
        const int n = ::epoll_wait(ep, events.data(), conns, 1000);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        for (int e = 0; e < n; ++e) {
            Connection& c = connections[events[static_cast<std::size_t>(e)].data.u32];
            const ssize_t got = ::recv(c.fd, c.buffer.data() + c.got, c.buffer.size() - c.got, 0);
            if (got <= 0) {
                if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                    continue;
                }
                std::fprintf(stderr, "echo_load: the server closed a connection\n");
                return 1;
            }
            c.got += static_cast<std::size_t>(got);
            if (c.got < c.buffer.size()) {
                continue;
            }
            if (std::memcmp(c.buffer.data(), c.message.data(), c.message.size()) != 0) {
                std::fprintf(stderr, "echo_load: an echo differs from its message\n");
                return 1;
            }
            if (stopping) {
                --in_flight;
                continue;
            }
            requests += measuring ? 1 : 0;
            send_message(c);
        }
        const std::int64_t t = now_ns();
        if (!measuring && t >= t_measure) {
            measuring = true;
        }
        if (!stopping && t >= t_end) {
            stopping = true;
            seconds = static_cast<double>(t - t_measure) / 1e9;
        }
        if (stopping && in_flight == 0) {
            break;
        }
        if (n == 0) {
            std::fprintf(stderr, "echo_load: no echo for 1 s\n");
            return 1;
        }
    }
    // A clean end, so that no server sees a reset: every echo has been read; shut down our
    // side, then wait for the server to close its side (EOF) before closing.
    for (Connection& c : connections) {
        ::shutdown(c.fd, SHUT_WR);
    }
    for (Connection& c : connections) {
        while (::recv(c.fd, c.buffer.data(), c.buffer.size(), 0) > 0) {
        }
        ::close(c.fd);
    }
    ::close(ep);
    std::printf(
        "{\"connections\": %d, \"size\": %d, \"seconds\": %.3f, \"requests\": %lld, "
        "\"req_per_s\": %.1f}\n",
        conns, size, seconds, static_cast<long long>(requests),
        static_cast<double>(requests) / seconds);
    return 0;
}
