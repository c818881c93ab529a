// A cancellable echo server with a graceful shutdown (the asyncio "echo server" scenario):
// every connection is served by its own task in a TaskGroup; Ctrl-C (SIGINT) makes run() cancel
// the main task, which cancels the pending accept and, through the group, every connection
// task: each closes its connection (the stream's destructor), and the program ends with every
// libuv handle closed.
//
//   echo_server          self-check (what the test runs): serves two in-process clients on a
//                        free port, then raises SIGINT on itself
//   echo_server PORT     serves 127.0.0.1:PORT until Ctrl-C (try: nc 127.0.0.1 PORT)
#include <uvtask/uvtask.hpp>

#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;
using uvtask::CancelledError;
using uvtask::SocketAddress;
using uvtask::Task;
using uvtask::TaskGroup;
using uvtask::TaskHandle;
using uvtask::TcpListener;
using uvtask::TcpStream;

namespace {

struct ServerState {
    int open = 0;                // connections being served
    int closed_at_shutdown = 0;  // connections closed because the server stopped
    int lost = 0;                // connections the client broke off (reset) mid-echo
};

// Echoes until the client shuts down its side, or until the server stops (the cancel arrives
// at read_some or write_all). Either way the stream's destructor closes the connection.
Task<void> serve_connection(TcpStream stream, int id, ServerState* state) {
    ++state->open;
    std::cout << "[server] connection " << id << " opened\n";
    std::array<char, 4096> buffer{};
    try {
        while (true) {
            const std::size_t n = co_await stream.read_some(buffer);
            if (n == 0) {
                break;  // the client is done
            }
            co_await stream.write_all(std::string_view(buffer.data(), n));
        }
    } catch (const CancelledError&) {
        --state->open;
        ++state->closed_at_shutdown;
        throw;  // a cancelled connection task ends cancelled
    } catch (const uvtask::IoError& error) {
        // The client went away mid-echo (reset, broken pipe): that ends this connection only,
        // never the group and the server.
        --state->open;
        ++state->lost;
        std::cout << "[server] connection " << id << " lost: the client went away\n";
        std::cerr << "[server] connection " << id << ": " << error.what() << "\n";
        co_return;
    }
    --state->open;
    std::cout << "[server] connection " << id << " finished by the client\n";
}

Task<void> serve(TcpListener* listener, ServerState* state) {
    // The body accepts until it is cancelled; the group then cancels and awaits every child.
    auto body = [listener, state](TaskGroup& group) -> Task<void> {
        for (int id = 1;; ++id) {
            TcpStream stream = co_await listener->accept();
            group.spawn(serve_connection(std::move(stream), id, state));
        }
    };
    co_await uvtask::task_group(body);
}

// ---- the self-check's clients

Task<TcpStream> echo_once(SocketAddress address, int id, std::string message) {
    TcpStream client = co_await TcpStream::connect(address);
    co_await client.write_all(message);
    std::string reply(message.size(), '\0');
    co_await client.read_exact(std::span<char>(reply));
    std::cout << "[client " << id << "] echo: " << reply << "\n";
    co_return client;  // stays connected
}

Task<bool> closed_by_server(TcpStream* client) {
    std::array<char, 64> buffer{};
    const std::size_t n = co_await client->read_some(buffer);
    co_return n == 0;
}

// Sends a message and breaks the connection off with a reset (SO_LINGER 0, then close) instead
// of waiting for the echo: the server must lose that connection only.
Task<void> reset_after_sending(SocketAddress address) {
    std::cout << "[client 3] sends and resets its connection\n";
    TcpStream client = co_await TcpStream::connect(address);
    co_await client.write_all("bye");
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(client.native_handle()), &fd) == 0) {
        const linger abort_on_close{1, 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    }
    client.close();
}

// Returns how many of its connections the server closed.
Task<int> demo_clients(SocketAddress address, const ServerState* state) {
    TcpStream first = co_await echo_once(address, 1, "hello");
    TcpStream second = co_await echo_once(address, 2, "hi");
    co_await reset_after_sending(address);
    while (state->lost == 0) {
        co_await uvtask::sleep(std::chrono::milliseconds(1));  // until the server noticed
    }
    std::cout << "[client] raising SIGINT (as Ctrl-C would)\n";
    std::raise(SIGINT);  // run() cancels the main task
    const bool first_closed = co_await closed_by_server(&first);
    const bool second_closed = co_await closed_by_server(&second);
    co_return (first_closed ? 1 : 0) + (second_closed ? 1 : 0);
}

Task<void> amain(std::optional<std::uint16_t> port) {
    TcpListener listener = TcpListener::bind("127.0.0.1", port.value_or(0));
    TaskHandle<int> clients;
    if (port) {
        std::cout << "[server] listening on " << listener.local_address().to_string()
                  << ", Ctrl-C to stop" << std::endl;
    } else {
        std::cout << "[server] listening on 127.0.0.1 (a free port)\n";
    }
    ServerState state;
    if (!port) {
        clients = uvtask::spawn(demo_clients(listener.local_address(), &state), "clients");
    }
    try {
        co_await serve(&listener, &state);
    } catch (const CancelledError& stop) {
        // The graceful shutdown itself: the accept and every connection were cancelled and have
        // ended. Catching it here (refusing at the top) lets main finish and the program exit 0.
        std::cout << "[server] stopping on " << stop.message() << " ("
                  << uvtask::to_string(stop.kind()) << "): closed " << state.closed_at_shutdown
                  << " connection(s), " << state.open << " still open\n";
    }
    listener.close();
    if (clients.valid()) {
        const int closed = co_await clients;
        std::cout << "[client] the server closed " << closed << " of my 2 connections\n";
    }
    std::cout << "[server] bye\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<std::uint16_t> port;
    if (argc > 1) {
        port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    }
    uvtask::run(amain(port));
    return 0;
}
