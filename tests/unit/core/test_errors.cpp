// CancelledError and CancelKind (docs/semantics.md §3.5): who asked, and a cancellation that a
// `catch (const std::exception&)` cannot swallow.
#include <uvtask/errors.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <cstddef>
#include <exception>
#include <optional>
#include <string>

#include <uvtask/uvtask.hpp>

#include "cancel_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::block_thread_for;
using uvtask::testing::cancel_of;
using uvtask::testing::catch_and_return;
using uvtask::testing::Clock;
using uvtask::testing::join;
using uvtask::testing::result_cancel;
using uvtask::testing::run_test;
using uvtask::testing::set_flag;
using uvtask::testing::set_flag_and_return;
using uvtask::testing::sleep_and_record;
using uvtask::testing::sleep_catching_cancel;
using uvtask::testing::sleep_for;
using uvtask::testing::sleep_forever;
using uvtask::testing::SleepRecord;
using uvtask::testing::yield_once;
using uvtask::testing::yield_until;

namespace {

Task<void> sleeps_forever() { co_await sleep(10s); }

bool catches_as_std_exception(const CancelledError& error) {
    try {
        throw error;
    } catch (const std::exception&) {
        return true;
    } catch (const CancelledError&) {
        return false;
    }
}

}  // namespace

TEST_SUITE("errors") {
    namespace {
    Task<void> cancel_all_from_inside(SleepRecord* child_record, std::size_t* asked,
                                      std::optional<CancelledError>* own) {
        auto child = spawn(sleep_and_record(child_record));
        co_await yield_now();
        *asked = Loop::current()->cancel_all("stopping");
        *own = co_await cancel_of(yield_once());
        co_await child;
    }
    Task<void> wait_for_sigint(bool* raised, std::optional<CancelledError>* received) {
        *raised = std::raise(SIGINT) == 0;
        try {
            co_await sleep(1h);
        } catch (const CancelledError& e) {
            *received = e;
            throw;
        }
    }
    }  // namespace

    TEST_CASE("3.5 kind() tells user from timeout/shutdown/signal") {
        run_test([]() -> Task<void> {
            const CancelKind kinds[] = {CancelKind::user, CancelKind::timeout, CancelKind::parent,
                                        CancelKind::shutdown, CancelKind::signal};
            for (const CancelKind kind : kinds) {
                SleepRecord record;
                auto task = spawn(sleep_and_record(&record));
                co_await yield_now();
                task.cancel(std::string(to_string(kind)), kind);
                co_await task;
                CHECK(record.caught);
                CHECK(record.kind == kind);
                CHECK(record.message == to_string(kind));
            }
            // The default kind is user.
            SleepRecord plain;
            auto task = spawn(sleep_and_record(&plain));
            co_await yield_now();
            task.cancel();
            co_await task;
            CHECK(plain.kind == CancelKind::user);
            CHECK(plain.message.empty());
            // The kind survives into the error a join rethrows.
            auto escaping = spawn(sleep_forever());
            co_await yield_now();
            escaping.cancel("deadline", CancelKind::timeout);
            auto error = co_await cancel_of(join(escaping));
            REQUIRE(error.has_value());
            CHECK(error->kind() == CancelKind::timeout);
        }());

        // Loop::cancel_all asks as `shutdown`.
        SleepRecord child;
        std::size_t asked = 0;
        std::optional<CancelledError> own;
        run_test(cancel_all_from_inside(&child, &asked, &own));
        CHECK(asked == 2);
        REQUIRE(own.has_value());
        CHECK(own->kind() == CancelKind::shutdown);
        CHECK(own->message() == "stopping");
        CHECK(child.kind == CancelKind::shutdown);

        // SIGINT during run() cancels main as `signal`, message "SIGINT" (then, with
        // exit_on_sigint off, run() throws KeyboardInterrupt instead of ending the process).
        bool raised = false;
        std::optional<CancelledError> sigint;
        RunOptions options;
        options.exit_on_sigint = false;
        bool interrupted = false;
        try {
            run(wait_for_sigint(&raised, &sigint), options);
        } catch (const KeyboardInterrupt&) {
            interrupted = true;
        }
        CHECK(raised);
        CHECK(interrupted);
        REQUIRE(sigint.has_value());
        CHECK(sigint->kind() == CancelKind::signal);
        CHECK(sigint->message() == "SIGINT");
    }

    TEST_CASE("CancelledError is not caught by catch (const std::exception&)") {
        CHECK_FALSE(catches_as_std_exception(CancelledError("x")));
        run_test([]() -> Task<void> {
            TaskHandle<void> h = spawn(sleeps_forever());
            co_await yield_now();
            h.cancel("not a std::exception");
            bool as_std = false;
            bool as_cancel = false;
            try {
                try {
                    co_await h;
                } catch (const std::exception&) {
                    as_std = true;
                }
            } catch (const CancelledError& e) {
                as_cancel = e.message() == "not a std::exception";
            }
            CHECK_FALSE(as_std);
            CHECK(as_cancel);
        }());
    }
}
