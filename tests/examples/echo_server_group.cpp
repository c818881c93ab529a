// The echo server on a LoopGroup: one loop per core, each accepting on a listener of its own bound
// to the same port with SO_REUSEPORT, so that the kernel spreads the connections among the loops
// and each loop serves its own, with no hand-off between threads. Ctrl-C (SIGINT) makes
// LoopGroup::run cancel the main task (loop 0), which stops the other loops' servers; the group
// then shuts down every loop and joins its thread.
//
//   echo_server_group            self-check (what the test runs): 2 loops, 8 in-process clients
//                                on a free port, then SIGINT on itself
//   echo_server_group PORT [N]   serves 127.0.0.1:PORT on N loops (default: one per core) until
//                                Ctrl-C (try: nc 127.0.0.1 PORT)
#include <uvtask/uvtask.hpp>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using uvtask::CancelledError;
using uvtask::Event;
using uvtask::LoopGroup;
using uvtask::SocketAddress;
using uvtask::Task;
using uvtask::TaskGroup;
using uvtask::TaskHandle;
using uvtask::TcpListener;
using uvtask::TcpStream;

namespace {

constexpr int demo_clients = 8;

// Shared by the loops' threads: counters only.
struct Stats {
    std::atomic<int> served{0};              // connections accepted, all loops together
    std::atomic<int> closed_at_shutdown{0};  // connections closed because the server stopped
};

Task<void> serve_connection(TcpStream stream, Stats* stats) {
    stats->served.fetch_add(1);
    std::array<char, 4096> buffer{};
    try {
        while (true) {
            const std::size_t n = co_await stream.read_some(buffer);
            if (n == 0) {
                co_return;  // the client is done
            }
            co_await stream.write_all(std::string_view(buffer.data(), n));
        }
    } catch (const CancelledError&) {
        stats->closed_at_shutdown.fetch_add(1);
        throw;  // the stream's destructor closes the connection
    } catch (const uvtask::IoError& error) {
        // The client went away mid-echo (reset, broken pipe): that ends this connection only,
        // never the group and the server.
        std::cerr << "[server] connection lost: " << error.what() << "\n";
    }
}

// Accepts until cancelled; the group then cancels and awaits every connection task.
Task<void> accept_loop(TcpListener* listener, Stats* stats) {
    auto body = [listener, stats](TaskGroup& group) -> Task<void> {
        for (;;) {
            TcpStream stream = co_await listener->accept();
            group.spawn(serve_connection(std::move(stream), stats));
        }
    };
    co_await uvtask::task_group(body);
}

TcpListener listen_shared(std::uint16_t port) {
    uvtask::TcpListenOptions options;
    options.reuse_port = true;  // every loop's listener sets it: they share the port
    return TcpListener::bind("127.0.0.1", port, options);
}

// The server of loop i > 0: its own listener on the shared port; tells loop 0 (`bound`, an
// Event of loop 0, set there by a posted call) once it listens.
Task<void> serve_on_this_loop(std::uint16_t port, uvtask::Loop* first, Event* bound,
                              std::atomic<int>* listening, int loops, Stats* stats) {
    TcpListener listener = listen_shared(port);
    if (listening->fetch_add(1) + 1 == loops) {
        first->post([bound] { bound->set(); });
    }
    co_await accept_loop(&listener, stats);
}

// ---- the self-check's clients (on loop 0)

Task<TcpStream> echo_once(SocketAddress address, int id) {
    TcpStream client = co_await TcpStream::connect(address);
    const std::string message = "hello " + std::to_string(id);
    co_await client.write_all(message);
    std::string reply(message.size(), '\0');
    co_await client.read_exact(std::span<char>(reply));
    std::cout << "[client " << id << "] echo: " << reply << "\n";
    co_return client;  // stays connected
}

// Returns how many of its connections the servers closed.
Task<int> clients(SocketAddress address) {
    std::vector<TcpStream> connections;
    for (int id = 1; id <= demo_clients; ++id) {
        TcpStream client = co_await echo_once(address, id);
        connections.push_back(std::move(client));
    }
    std::cout << "[client] raising SIGINT (as Ctrl-C would)\n";
    std::raise(SIGINT);  // LoopGroup::run cancels the main task
    int closed = 0;
    for (TcpStream& connection : connections) {
        std::array<char, 64> buffer{};
        const std::size_t n = co_await connection.read_some(buffer);
        closed += n == 0 ? 1 : 0;
    }
    co_return closed;
}

Task<void> amain(LoopGroup* group, std::optional<std::uint16_t> port, Stats* stats) {
    // Loop 0's listener first: with port 0 it picks the port that the other loops then share.
    TcpListener listener = listen_shared(port.value_or(0));
    const SocketAddress address = listener.local_address();
    const int loops = static_cast<int>(group->size());
    Event bound;
    std::atomic<int> listening{1};
    std::vector<TaskHandle<void>> servers;
    for (int i = 1; i < loops; ++i) {
        servers.push_back(
            uvtask::spawn_on(group->loop(static_cast<std::size_t>(i)),
                             serve_on_this_loop(address.port(), uvtask::Loop::current(), &bound,
                                                &listening, loops, stats)));
    }
    if (loops > 1) {
        co_await bound.wait();  // every loop listens
    }
    TaskHandle<int> demo;
    if (port) {
        std::cout << "[server] listening on " << address.to_string() << " on " << loops
                  << " loops, Ctrl-C to stop" << std::endl;
    } else {
        std::cout << "[server] listening on 127.0.0.1 (a free port) on " << loops << " loops\n";
        demo = uvtask::spawn(clients(address), "clients");
    }
    try {
        co_await accept_loop(&listener, stats);
    } catch (const CancelledError& stop) {
        // Loop 0's server has stopped; stop the other loops' servers the same way (cancel()
        // is safe from any thread) — their connections close as this loop's did.
        std::cout << "[server] stopping on " << stop.message() << " ("
                  << uvtask::to_string(stop.kind()) << ")\n";
        for (const TaskHandle<void>& server : servers) {
            server.cancel(stop.message(), stop.kind());
        }
    }
    listener.close();
    if (demo.valid()) {
        const int closed = co_await demo;
        std::cout << "[client] the servers closed " << closed << " of my " << demo_clients
                  << " connections\n";
    }
    std::cout << "[server] bye\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<std::uint16_t> port;
    std::size_t loops = 2;  // the self-check's
    if (argc > 1) {
        port = static_cast<std::uint16_t>(std::atoi(argv[1]));
        loops = argc > 2 ? static_cast<std::size_t>(std::atoi(argv[2])) : 0;
    }
    Stats stats;
    {
        LoopGroup group = loops == 0 ? LoopGroup() : LoopGroup(loops);
        group.run(amain(&group, port, &stats));
    }  // every loop has shut down and its thread is joined
    std::cout << "[group] " << stats.served.load() << " connections served, "
              << stats.closed_at_shutdown.load() << " closed at shutdown; every loop stopped\n";
    return 0;
}
