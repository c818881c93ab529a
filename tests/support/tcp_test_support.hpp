// Test support for the TCP and Stream suites: a connected loopback pair, and reads into strings.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include <uvtask/uvtask.hpp>

namespace uvtask::testing {

/// Reads until the end of the stream.
inline Task<std::string> read_to_end(Stream* stream) {
    std::string all;
    std::array<char, 4096> buffer{};
    while (true) {
        const std::size_t n = co_await stream->read_some(buffer);
        if (n == 0) {
            co_return all;
        }
        all.append(buffer.data(), n);
    }
}

/// A connected pair over loopback: [0] the client side, [1] the server side.
inline Task<std::pair<TcpStream, TcpStream>> connected_pair() {
    TcpListener listener = TcpListener::bind("127.0.0.1", 0);
    TaskHandle<TcpStream> accepting = spawn([](TcpListener* l) -> Task<TcpStream> {
        TcpStream s = co_await l->accept();
        co_return s;
    }(&listener));
    TcpStream client = co_await TcpStream::connect(listener.local_address());
    TcpStream server = co_await accepting;
    co_return std::pair<TcpStream, TcpStream>{std::move(client), std::move(server)};
}

inline Task<std::size_t> read_some_into(Stream* stream, std::string* out) {
    std::array<char, 64> buffer{};
    const std::size_t n = co_await stream->read_some(buffer);
    out->assign(buffer.data(), n);
    co_return n;
}

inline Task<void> read_exact_into(Stream* stream, std::string* out, std::size_t size) {
    std::string buffer(size, '\0');
    co_await stream->read_exact(std::span<char>(buffer.data(), buffer.size()));
    *out = buffer;
}

}  // namespace uvtask::testing
