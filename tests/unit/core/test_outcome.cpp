// Outcome<T> (docs/zero-exception.md): a value, a cancellation or another exception, never two;
// value() returns the value or throws what it holds.
#include <uvtask/outcome.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>

using namespace uvtask;

TEST_SUITE("outcome") {
    TEST_CASE("an Outcome holds exactly one of a value, a cancellation and an exception") {
        Outcome<int> value(3);
        CHECK(value.has_value());
        CHECK(static_cast<bool>(value));
        CHECK_FALSE(value.is_cancelled());
        CHECK_FALSE(value.has_exception());
        CHECK(value.value() == 3);
        CHECK(value.exception() == nullptr);

        Outcome<int> cancelled =
            Outcome<int>::cancelled(CancelledError("stop", CancelKind::timeout));
        CHECK_FALSE(cancelled.has_value());
        CHECK(cancelled.is_cancelled());
        CHECK_FALSE(cancelled.has_exception());
        CHECK(cancelled.message() == "stop");
        CHECK(cancelled.kind() == CancelKind::timeout);
        CHECK(cancelled.exception() == nullptr);  // a cancellation is not "another exception"

        Outcome<int> failed =
            Outcome<int>::failed(std::make_exception_ptr(std::runtime_error("boom")));
        CHECK_FALSE(failed.has_value());
        CHECK_FALSE(failed.is_cancelled());
        CHECK(failed.has_exception());
        CHECK(failed.exception() != nullptr);
    }

    TEST_CASE("value() throws the cancellation or rethrows the exception it holds") {
        Outcome<int> cancelled = Outcome<int>::cancelled(CancelledError("stop"));
        CHECK_THROWS_AS((void)cancelled.value(), CancelledError);
        try {
            (void)cancelled.value();
        } catch (const CancelledError& error) {
            CHECK(error.message() == "stop");
        }
        CHECK(cancelled.is_cancelled());  // value() on an lvalue leaves it as it was
        Outcome<void> failed =
            Outcome<void>::failed(std::make_exception_ptr(std::runtime_error("boom")));
        CHECK_THROWS_WITH_AS(failed.value(), "boom", std::runtime_error);
        Outcome<void> done;
        CHECK_NOTHROW(done.value());
    }

    TEST_CASE("reading a cancellation that is not there is an InvalidStateError") {
        Outcome<int> value(1);
        CHECK_THROWS_AS((void)value.message(), InvalidStateError);
        CHECK_THROWS_AS((void)value.kind(), InvalidStateError);
        CHECK_THROWS_AS((void)value.cancellation(), InvalidStateError);
    }

    TEST_CASE("failed() of a null exception holds an InvalidStateError saying so") {
        Outcome<int> misuse = Outcome<int>::failed(nullptr);
        REQUIRE(misuse.has_exception());
        CHECK_THROWS_AS(std::rethrow_exception(misuse.exception()), InvalidStateError);
    }

    TEST_CASE("value() of an rvalue moves a move-only value out") {
        Outcome<std::unique_ptr<int>> outcome(std::make_unique<int>(9));
        std::unique_ptr<int> taken = std::move(outcome).value();
        REQUIRE(taken != nullptr);
        CHECK(*taken == 9);
    }
}
