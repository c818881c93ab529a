// Operation<T>: a user-written awaitable gets the guarantees of the built-in ones.
#include <uvtask/operation.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include <uvtask/uvtask.hpp>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::settled;

namespace {

/// A fake foreign library: one pending request the test completes by hand.
struct FakeLibrary {
    bool started = false;
    bool stop_asked = false;
    int starts = 0;
};

/// The operation a user would write over FakeLibrary. `complete_at_once`: the library answers
/// inside start(). `on_stop`: what the library does when asked to stop.
class FakeRequest final : public Operation<int> {
public:
    enum class OnStop { stopped, completes_anyway, nothing };
    FakeRequest(FakeLibrary* library, bool complete_at_once, OnStop on_stop) noexcept
        : library_(library), complete_at_once_(complete_at_once), on_stop_(on_stop) {}

    /// The library's answer arrives (the test calls it, on the loop's thread).
    void answer(int value) { complete(value); }
    void fail_with(const std::string& what) {
        fail(std::make_exception_ptr(std::runtime_error(what)));
    }

private:
    void start() override {
        ++library_->starts;
        library_->started = true;
        if (complete_at_once_) {
            complete(7);
        }
    }
    void stop() noexcept override {
        library_->stop_asked = true;
        if (on_stop_ == OnStop::stopped) {
            cancelled();
        } else if (on_stop_ == OnStop::completes_anyway) {
            complete(99);
        }
    }

    FakeLibrary* library_;
    bool complete_at_once_;
    OnStop on_stop_;
};

Task<void> sleep_for_a_while() { co_await sleep(10s); }

Task<void> sleep_then(std::chrono::milliseconds delay) { co_await sleep(delay); }

Task<int> await_request(FakeRequest* request) {
    int value = co_await *request;
    co_return value;
}

class Throwing final : public Operation<void> {
    void start() override { throw std::logic_error("cannot start"); }
    void stop() noexcept override {}
};

Task<void> await_throwing() {
    Throwing op;
    co_await op;
}

/// An operation whose start() ends it at once and then throws (a library that both answered and
/// failed). Its ending stands; the exception is reported.
class AnswersThenThrows final : public Operation<int> {
private:
    void start() override {
        complete(1);
        throw std::runtime_error("after the answer");
    }
    void stop() noexcept override {}
};

/// Awaits AnswersThenThrows, then waits on `event`, which `setter` sets after a few turns: the
/// task must resume from the event, not from a stale turn of the operation.
Task<int> answer_then_wait(Event* event) {
    const int value = co_await AnswersThenThrows{};
    co_await event->wait();
    CHECK(event->is_set());
    co_return value;
}

Task<void> set_after_turns(Event* event) {
    for (int i = 0; i < 3; ++i) {
        co_await yield_now();
    }
    event->set();
}

}  // namespace

TEST_SUITE("operation") {
    TEST_CASE("an operation completed by its library delivers the value, resumed from the ready "
              "queue and not inside complete()") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, false, FakeRequest::OnStop::stopped);
            TaskHandle<int> task = spawn(await_request(&request));
            co_await yield_now();
            CHECK(library.started);
            request.answer(5);
            CHECK_FALSE(task.done());  // not resumed inside complete()
            const int value = co_await task;
            CHECK(value == 5);
        }());
    }

    TEST_CASE("an operation that completes inside start() still resumes from the ready queue") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, true, FakeRequest::OnStop::stopped);
            const int value = co_await await_request(&request);
            CHECK(value == 7);
        }());
    }

    TEST_CASE("a cancel while the operation runs calls stop() once; cancelled() gives "
              "CancelledError with the request's message") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, false, FakeRequest::OnStop::stopped);
            TaskHandle<int> task = spawn(await_request(&request));
            co_await yield_now();
            CHECK(task.cancel("stop it"));
            CHECK(library.stop_asked);
            Ended<int> out = co_await settled(task);
            REQUIRE(out.threw<CancelledError>());
            CHECK(out.as<CancelledError>()->message() == "stop it");
            CHECK(task.cancelling() == 1);
        }());
    }

    TEST_CASE("an operation that completes although it was asked to stop delivers its value; the "
              "cancel waits for the next suspension point (atomic completion)") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, false, FakeRequest::OnStop::completes_anyway);
            auto body = [](FakeRequest* request) -> Task<std::string> {
                const int value = co_await *request;
                Ended<void> next = co_await outcome_of(sleep_for_a_while());
                co_return std::to_string(value) + (next.threw<CancelledError>() ? " then cancel"
                                                                               : " only");
            };
            TaskHandle<std::string> task = spawn(body(&request));
            co_await yield_now();
            task.cancel();
            const std::string result = co_await task;
            CHECK(result == "99 then cancel");
        }());
    }

    TEST_CASE("a cancel pending when the task awaits is thrown at once and start() never runs") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, false, FakeRequest::OnStop::stopped);
            auto body = [](FakeRequest* request) -> Task<int> {
                co_await non_cancellable(sleep_then(2ms));  // the cancel arrives meanwhile
                int value = co_await *request;
                co_return value;
            };
            TaskHandle<int> task = spawn(body(&request));
            co_await yield_now();
            task.cancel("pending");
            Ended<int> out = co_await settled(task);
            CHECK(out.threw<CancelledError>());
            CHECK(library.starts == 0);
        }());
    }

    TEST_CASE("fail() makes co_await rethrow the library's error; a throwing start() is the "
              "co_await's exception") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, false, FakeRequest::OnStop::stopped);
            TaskHandle<int> task = spawn(await_request(&request));
            co_await yield_now();
            request.fail_with("library error");
            Ended<int> out = co_await settled(task);
            CHECK(out.threw<std::runtime_error>());
            Ended<void> thrown = co_await outcome_of(await_throwing());
            CHECK(thrown.threw<std::logic_error>());
        }());
    }

    TEST_CASE("a stop() that does not end the operation keeps the task waiting until the library "
              "answers") {
        run_test([]() -> Task<void> {
            FakeLibrary library;
            FakeRequest request(&library, false, FakeRequest::OnStop::nothing);
            TaskHandle<int> task = spawn(await_request(&request));
            co_await yield_now();
            task.cancel();
            co_await sleep(2ms);
            CHECK_FALSE(task.done());  // the library still owns the request
            request.answer(3);
            const int value = co_await task;
            CHECK(value == 3);
        }());
    }

    TEST_CASE("a start() that ends the operation and then throws: the task resumes once, with "
              "the value; the exception goes to the exception handler") {
        // Found in review: the task was both queued (by the ending) and resumed at once (by the
        // exception), so the stale queue entry woke it out of its next suspension point.
        const auto run = run_test(
            []() -> Task<void> {
                Event event;
                TaskHandle<int> waiter = spawn(answer_then_wait(&event));
                TaskHandle<void> setter = spawn(set_after_turns(&event));
                const int value = co_await waiter;
                co_await setter;
                CHECK(value == 1);
            }(),
            {.expect_reports = true});
        REQUIRE(run.reports.size() == 1);
        CHECK(run.reports[0].message == "Operation::start() threw after ending the operation");
    }
}
