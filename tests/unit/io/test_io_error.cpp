// IoError and the "uv" error category; SocketAddress parsing and printing.
#include <uvtask/address.hpp>
#include <uvtask/io_error.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <ostream>
#include <string>
#include <system_error>

using namespace uvtask;

TEST_SUITE("io_error") {
    TEST_CASE("IoError carries the libuv code, its name, the operation and the detail") {
        const IoError error(UV_ECONNREFUSED, "connect", "127.0.0.1:9");
        CHECK(error.uv_status() == UV_ECONNREFUSED);
        CHECK(error.uv_name() == "ECONNREFUSED");
        CHECK(error.operation() == "connect");
        CHECK(error.detail() == "127.0.0.1:9");
        CHECK(error.code().category() == uv_category());
        CHECK(std::string(uv_category().name()) == "uv");
        CHECK(std::string(error.what()) == "connect 127.0.0.1:9: ECONNREFUSED: connection refused");
    }

    TEST_CASE("libuv codes that mirror an errno compare equal to std::errc") {
        CHECK(make_uv_error_code(UV_ENOENT) == std::errc::no_such_file_or_directory);
        CHECK(make_uv_error_code(UV_EPIPE) == std::errc::broken_pipe);
        CHECK(make_uv_error_code(UV_EOF) != std::errc::no_such_file_or_directory);
        CHECK(make_uv_error_code(UV_EOF).message() == "end of file");
    }

    TEST_CASE("an IoError is a std::system_error, caught as std::exception") {
        bool caught = false;
        try {
            throw IoError(UV_EAI_NONAME, "resolve", "x.invalid");
        } catch (const std::system_error& error) {
            caught = std::string(error.what()).find("EAI_NONAME") != std::string::npos;
        }
        CHECK(caught);
    }

    TEST_CASE("an unknown code still gets a name and a message, without leaking") {
        const IoError error(-123456, "op");
        CHECK_FALSE(error.uv_name().empty());
        CHECK_FALSE(std::string(error.what()).empty());
    }

    TEST_CASE("SocketAddress parses and prints IPv4 and IPv6 and rejects names") {
        const SocketAddress v4 = SocketAddress::parse("127.0.0.1", 80);
        CHECK(v4.is_v4());
        CHECK(v4.port() == 80);
        CHECK(v4.to_string() == "127.0.0.1:80");
        const SocketAddress v6 = SocketAddress::parse("::1", 8080);
        CHECK(v6.is_v6());
        CHECK(v6.ip() == "::1");
        CHECK(v6.to_string() == "[::1]:8080");
        CHECK(v4 == SocketAddress::parse("127.0.0.1", 80));
        CHECK_FALSE(v4 == SocketAddress::parse("127.0.0.1", 81));
        CHECK(SocketAddress().to_string() == "unspecified");
        int status = 0;
        try {
            (void)SocketAddress::parse("localhost", 1);
        } catch (const IoError& error) {
            status = error.uv_status();
            CHECK(error.detail() == "localhost");
        }
        CHECK(status == UV_EINVAL);
    }

    TEST_CASE("an address with a NUL byte is an IoError EINVAL, not the address before the NUL") {
        // Found in review: parse() handed libuv a C string, which ended at the NUL.
        int status = 0;
        try {
            (void)SocketAddress::parse(std::string("127.0.0.1\0junk", 14), 1);
        } catch (const IoError& error) {
            status = error.uv_status();
        }
        CHECK(status == UV_EINVAL);
    }
}
