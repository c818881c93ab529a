// An echo client with a timeout on connect: `wait_for(TcpStream::connect(address), limit)`.
// When the limit expires, the connect is cancelled — its socket closed, libuv done with the
// request — and only then is TimeoutError thrown: nothing is left behind.
//
//   echo_client                   self-check (what the test runs): talks to an in-process echo
//                                 server, then tries a server that never answers
//   echo_client HOST PORT [TEXT]  connects (2 s limit), sends TEXT, prints the echo
#include <uvtask/uvtask.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using uvtask::IoError;
using uvtask::SocketAddress;
using uvtask::Task;
using uvtask::TcpListener;
using uvtask::TcpStream;
using uvtask::TimeoutError;

namespace {

Task<void> talk(TcpStream stream, std::string text) {
    co_await stream.write_all(text);
    co_await stream.shutdown();  // we are done sending
    std::string echo;
    std::array<char, 4096> buffer{};
    while (true) {
        const std::size_t n = co_await stream.read_some(buffer);
        if (n == 0) {
            break;
        }
        echo.append(buffer.data(), n);
    }
    std::cout << "echo: " << echo << "\n";
}

// ---- the self-check's servers

Task<void> echo_one_connection(TcpListener listener) {
    TcpStream stream = co_await listener.accept();
    std::array<char, 4096> buffer{};
    while (true) {
        const std::size_t n = co_await stream.read_some(buffer);
        if (n == 0) {
            break;
        }
        co_await stream.write_all(std::string_view(buffer.data(), n));
    }
}

// A server that never answers: a listening socket whose queue (backlog 0) is already full, so
// the kernel drops new connection requests and a connect to it hangs.
class UnresponsiveServer {
public:
    UnresponsiveServer() {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        filler_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (listener_ < 0 || filler_ < 0 ||
            ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(listener_, 0) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
            ::connect(filler_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            std::cerr << "cannot set up the unresponsive server\n";
            std::exit(1);
        }
        port_ = ntohs(address.sin_port);
    }
    UnresponsiveServer(const UnresponsiveServer&) = delete;
    UnresponsiveServer& operator=(const UnresponsiveServer&) = delete;
    ~UnresponsiveServer() {
        ::close(filler_);
        ::close(listener_);
    }
    [[nodiscard]] SocketAddress address() const { return SocketAddress::parse("127.0.0.1", port_); }

private:
    int listener_ = -1;
    int filler_ = -1;
    std::uint16_t port_ = 0;
};

Task<void> self_check() {
    TcpListener listener = TcpListener::bind("127.0.0.1", 0);
    const SocketAddress address = listener.local_address();
    auto server = uvtask::spawn(echo_one_connection(std::move(listener)));

    TcpStream stream = co_await uvtask::wait_for(TcpStream::connect(address), 2s);
    std::cout << "connected to the echo server within 2 s\n";
    co_await talk(std::move(stream), "ping");
    co_await server;

    UnresponsiveServer silent;
    try {
        TcpStream never = co_await uvtask::wait_for(TcpStream::connect(silent.address()), 200ms);
        (void)never;
        std::cout << "connected?!\n";
    } catch (const TimeoutError&) {
        std::cout << "connect to a server that never answers: timed out after 200 ms "
                     "(the connect was cancelled first)\n";
    }
}

Task<void> client(std::string host, std::uint16_t port, std::string text) {
    try {
        // connect(host, port) is a Task (resolve, then each address): wait_for bounds it all.
        TcpStream stream = co_await uvtask::wait_for(TcpStream::connect(host, port), 2s);
        co_await talk(std::move(stream), text);
    } catch (const TimeoutError&) {
        std::cout << "connect timed out after 2 s\n";
    } catch (const IoError& error) {
        std::cout << "error: " << error.what() << "\n";
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc >= 3) {
        const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
        uvtask::run(client(argv[1], port, argc >= 4 ? argv[3] : "hello"));
    } else {
        uvtask::run(self_check());
    }
    return 0;
}
