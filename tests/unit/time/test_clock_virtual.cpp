// Virtual time (Loop::set_virtual_time, RunOptions::virtual_time, LoopClock; docs/testing.md):
// the clock stands still while tasks run and jumps to the next deadline when nothing is ready;
// while libuv has other work under way it waits for the real-time idle threshold first.
//
// Hours of virtual sleeping below would hit each test's 10-second (real-time) watchdog if the
// clock did not jump: that is what fails when virtual time breaks, not a timed assertion.
#include <uvtask/clock.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <uvtask/uvtask.hpp>

#include "run_test.hpp"
#include "tcp_test_support.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::connected_pair;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;

namespace {

RunTestOptions on_virtual_time(std::chrono::nanoseconds io_idle = 10ms) {
    RunTestOptions options;
    options.virtual_time = true;
    options.virtual_time_io_idle = io_idle;
    return options;
}

const RunTestOptions virtual_time = on_virtual_time();

// For the cases about switching and about real time: never virtual from the start, whatever
// UVTASK_TEST_VIRTUAL_TIME says.
RunTestOptions on_real_time() {
    RunTestOptions options;
    options.virtual_time = false;
    return options;
}

RunOptions run_on_virtual_time(std::chrono::nanoseconds io_idle = 10ms) {
    RunOptions options;
    options.handle_sigint = false;
    options.virtual_time = true;
    options.virtual_time_io_idle = io_idle;
    return options;
}

Task<void> sleep_then_record(LoopClock::duration delay, int id, std::vector<int>* order) {
    co_await sleep(delay);
    order->push_back(id);
}

// An application's uv_idle_t, started; closed (and freed by its close callback) when this goes,
// also when the test is cancelled by its watchdog.
class AppIdleHandle {
public:
    explicit AppIdleHandle(uv_loop_t* loop) : handle_(std::make_unique<uv_idle_t>()) {
        uv_idle_init(loop, handle_.get());
        uv_idle_start(handle_.get(), [](uv_idle_t*) {});
    }
    AppIdleHandle(const AppIdleHandle&) = delete;
    AppIdleHandle& operator=(const AppIdleHandle&) = delete;
    ~AppIdleHandle() {
        uv_close(reinterpret_cast<uv_handle_t*>(handle_.release()), [](uv_handle_t* handle) {
            std::unique_ptr<uv_idle_t> owned(reinterpret_cast<uv_idle_t*>(handle));
        });
    }

private:
    std::unique_ptr<uv_idle_t> handle_;
};

// Spawns sleepers with ties in their deadlines and returns the order they woke in.
Task<std::vector<int>> wake_order() {
    std::vector<int> order;
    const std::array<LoopClock::duration, 6> delays{3s, 1s, 2s, 1s, 3600s, 2s};
    std::vector<TaskHandle<void>> sleepers;
    for (std::size_t i = 0; i < delays.size(); ++i) {
        sleepers.push_back(spawn(sleep_then_record(delays[i], static_cast<int>(i), &order)));
    }
    for (auto& sleeper : sleepers) {
        co_await sleeper;
    }
    co_return order;
}

}  // namespace

TEST_SUITE("clock") {
    TEST_CASE("virtual_time: a 5 s sleep cancelled at 1 s ends 1 s later on the virtual clock") {
        run_test(
            []() -> Task<void> {
                const auto start = LoopClock::now();
                auto sleeper = spawn([]() -> Task<void> { co_await sleep(5s); }());
                co_await sleep(1s);
                CHECK(LoopClock::now() - start == 1s);  // exact: the clock jumped, then stood
                sleeper.cancel("at 1 s");
                CHECK_THROWS_AS(co_await sleeper, CancelledError);
                CHECK(LoopClock::now() - start == 1s);
            }(),
            virtual_time);
    }

    TEST_CASE("virtual_time: timers fire in deadline order, FIFO within a millisecond, every run") {
        for (int run = 0; run < 3; ++run) {
            std::vector<int> order;
            run_test(
                [](std::vector<int>* out) -> Task<void> {
                    uvtask::testing::assume_fifo_schedule();  // FIFO within a millisecond
                    *out = co_await wake_order();
                }(&order),
                virtual_time);
            CHECK(order == std::vector<int>{1, 3, 2, 5, 0, 4});
        }
    }

    TEST_CASE("virtual_time: the clock stands still while tasks run") {
        run_test(
            []() -> Task<void> {
                // A timer is armed: a clock jumping while a task is ready would fire it.
                auto sleeper = spawn([]() -> Task<void> { co_await sleep(1h); }());
                const auto start = LoopClock::now();
                for (int i = 0; i < 1000; ++i) {
                    co_await yield_now();
                }
                std::this_thread::sleep_for(2ms);  // real time passes; the loop's clock does not
                CHECK(LoopClock::now() == start);
                CHECK_FALSE(sleeper.done());
                sleeper.cancel();
                CHECK_THROWS_AS(co_await sleeper, CancelledError);
            }(),
            virtual_time);
    }

    TEST_CASE("virtual_time: with_timeout, move_on_after, wait_for and Deadline use it") {
        run_test(
            []() -> Task<void> {
                const auto start = LoopClock::now();
                CHECK_THROWS_AS(co_await with_timeout(2s, sleep(1h)), TimeoutError);
                CHECK(LoopClock::now() - start == 2s);
                co_await move_on_after(3s, sleep(24h));
                CHECK(LoopClock::now() - start == 5s);
                CHECK_THROWS_AS(co_await wait_for(spawn([]() -> Task<void> {
                                                      co_await sleep(1h);
                                                  }()),
                                                  500ms),
                                TimeoutError);
                CHECK(LoopClock::now() - start == 5500ms);
                auto deadline = Deadline::at(LoopClock::now() + 10s);
                CHECK_THROWS_AS(co_await deadline.run(sleep(1h)), TimeoutError);
                CHECK(LoopClock::now() - start == 15500ms);
                // A time point of another clock is a delay from now, on the virtual clock.
                auto steady = Deadline::at(std::chrono::steady_clock::now() + 1h);
                CHECK(steady.when() - LoopClock::now() > 59min);
                CHECK(steady.when() - LoopClock::now() <= 1h);
            }(),
            virtual_time);
    }

    TEST_CASE("virtual_time: a thread-pool job under way holds the jump until it ends") {
        // Threshold of an hour: while the job runs the clock cannot jump, so the sleeper can only
        // wake after the job has ended, however long either takes.
        std::atomic<bool> job_done{false};
        bool job_done_when_woken = false;
        run_test(
            [](std::atomic<bool>* done, bool* seen) -> Task<void> {
                auto sleeper = spawn([](std::atomic<bool>* d, bool* s) -> Task<void> {
                    co_await sleep(1s);
                    // Acquire: pairs with the job's release store.
                    *s = d->load(std::memory_order_acquire);
                }(done, seen));
                co_await to_thread([done] {
                    std::this_thread::sleep_for(20ms);
                    done->store(true, std::memory_order_release);
                });
                co_await sleeper;
            }(&job_done, &job_done_when_woken),
            on_virtual_time(1h));
        CHECK(job_done_when_woken);
    }

    TEST_CASE("virtual_time: with a zero threshold the clock jumps even while a job runs") {
        // The job waits for the sleeper to wake: without the jump this deadlocks (the watchdog).
        std::atomic<bool> woken{false};
        run_test(
            [](std::atomic<bool>* flag) -> Task<void> {
                auto job = spawn([](std::atomic<bool>* f) -> Task<void> {
                    co_await to_thread([f] {
                        // Acquire: pairs with the sleeper's release store.
                        while (!f->load(std::memory_order_acquire)) {
                            std::this_thread::yield();
                        }
                    });
                }(flag));
                co_await sleep(1h);
                flag->store(true, std::memory_order_release);
                co_await job;
            }(&woken),
            on_virtual_time(0ns));
        CHECK(woken.load());
    }

    TEST_CASE("virtual_time: a read nobody answers times out after the real idle threshold") {
        run_test(
            []() -> Task<void> {
                auto [client, server] = co_await connected_pair();
                std::array<char, 16> buffer{};
                const auto start = LoopClock::now();
                CHECK_THROWS_AS(co_await with_timeout(30s, client.read_some(buffer)),
                                TimeoutError);
                CHECK(LoopClock::now() - start == 30s);
                // The stream still works after the cancelled read.
                co_await server.write("ok");
                const std::size_t n = co_await client.read_some(buffer);
                CHECK(std::string(buffer.data(), n) == "ok");
            }(),
            on_virtual_time(5ms));
    }

    TEST_CASE("virtual_time: switching while a timer is armed is refused") {
        run_test(
            []() -> Task<void> {
                auto sleeper = spawn([]() -> Task<void> { co_await sleep(1s); }());
                co_await yield_now();  // the sleeper is armed
                CHECK_THROWS_AS(Loop::current()->set_virtual_time(false), InvalidStateError);
                co_await sleeper;
                // Disarmed, but the virtual clock is a second ahead of real time: going back to
                // real time would move the clock backwards.
                CHECK_THROWS_AS(Loop::current()->set_virtual_time(false), InvalidStateError);
                CHECK_THROWS_AS(Loop::current()->set_virtual_time(true, -1ms),
                                InvalidDurationError);
                Loop::current()->set_virtual_time(true, 0ns);  // same mode: only the threshold
            }(),
            virtual_time);
        run_test([]() -> Task<void> {
            auto sleeper = spawn([]() -> Task<void> { co_await sleep(10ms); }());
            co_await yield_now();
            CHECK_THROWS_AS(Loop::current()->set_virtual_time(true), InvalidStateError);
            co_await sleeper;
            Loop::current()->set_virtual_time(true);  // nothing armed: allowed
            const auto start = LoopClock::now();
            co_await sleep(1h);
            CHECK(LoopClock::now() - start == 1h);
        }(), on_real_time());
    }

    TEST_CASE("virtual_time: switched back off once real time caught up, real time resumes") {
        run_test([]() -> Task<void> {
            Loop::current()->set_virtual_time(true);
            const auto virtual_start = LoopClock::now();
            // The virtual clock starts on the next whole millisecond: within 1 ms, real time has
            // caught up with a clock that never jumped.
            std::this_thread::sleep_for(2ms);
            CHECK(LoopClock::now() == virtual_start);
            Loop::current()->set_virtual_time(false);
            CHECK(LoopClock::now() >= virtual_start);  // never backwards
            const auto real_start = std::chrono::steady_clock::now();
            co_await sleep(1ms);
            CHECK(std::chrono::steady_clock::now() - real_start >= 1ms);  // a real sleep again
        }(), on_real_time());
    }

    TEST_CASE("virtual_time: RunOptions::virtual_time through run(), and its bad threshold") {
        const auto slept = run(
            []() -> Task<LoopClock::duration> {
                const auto start = LoopClock::now();
                co_await sleep(48h);
                co_return LoopClock::now() - start;
            }(),
            run_on_virtual_time());
        CHECK(slept == 48h);
        CHECK_THROWS_AS(run([]() -> Task<void> { co_return; }(),
                            run_on_virtual_time(-1ns)),
                        InvalidDurationError);
    }

    TEST_CASE("virtual_time: run()'s deadlock rule still holds once the timers are spent") {
        CHECK_THROWS_AS(run(
                            []() -> Task<void> {
                                spawn([]() -> Task<void> { co_await sleep(10s); }());  // detached
                                Event never;
                                co_await never.wait();
                            }(),
                            run_on_virtual_time()),
                        InvalidStateError);
    }

    TEST_CASE("virtual_time: work already posted runs before the clock jumps past a timeout") {
        run_test(
            []() -> Task<void> {
                Event posted;
                Loop::current()->post([&posted] { posted.set(); });
                co_await with_timeout(1s, posted.wait());  // TimeoutError if the clock jumped
                CHECK(posted.is_set());
            }(),
            virtual_time);
    }

    TEST_CASE("virtual_time: a forever sleep (hours::max()) is never jumped to") {
        run_test(
            []() -> Task<void> {
                auto forever = spawn([]() -> Task<void> {
                    co_await sleep(std::chrono::hours::max());
                }());
                const auto start = LoopClock::now();
                co_await sleep(24h);  // a jump past it: the forever sleeper stays asleep
                CHECK(LoopClock::now() - start == 24h);
                CHECK_FALSE(forever.done());
                const std::vector<TaskInfo> infos = Loop::current()->tasks();
                CHECK(infos.back().waiting_on == "sleep (forever)");
                forever.cancel();
                CHECK_THROWS_AS(co_await forever, CancelledError);
                CHECK(LoopClock::now() - start == 24h);
            }(),
            virtual_time);
    }

    TEST_CASE("virtual_time: an application handle turning the loop fast does not hold the jump") {
        // An application's idle handle keeps the loop turning without ever blocking in poll;
        // no task runs meanwhile, so the clock still jumps after the threshold (200 ms: a loop
        // turning freely is never stalled that long, so a threshold restarted at every turn
        // would hold the jump until the watchdog).
        run_test(
            []() -> Task<void> {
                const AppIdleHandle ticker(Loop::current()->native());
                const auto start = LoopClock::now();
                co_await sleep(1h);  // held forever, this would reach the watchdog
                CHECK(LoopClock::now() - start == 1h);
            }(),
            on_virtual_time(200ms));
    }

    TEST_CASE("LoopClock: steady_clock's time on a thread without a loop and on a real-time loop") {
        const auto before = std::chrono::steady_clock::now().time_since_epoch();
        const auto read = LoopClock::now().time_since_epoch();
        const auto after = std::chrono::steady_clock::now().time_since_epoch();
        CHECK(before <= read);
        CHECK(read <= after);
        run_test([]() -> Task<void> {
            const auto before_in = std::chrono::steady_clock::now().time_since_epoch();
            const auto read_in = LoopClock::now().time_since_epoch();
            CHECK(before_in <= read_in);
            co_return;
        }(), on_real_time());
    }
}
