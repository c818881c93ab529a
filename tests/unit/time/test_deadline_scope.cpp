// A Deadline withdrawing its own cancel request: atomically with a cancel() from another thread
// (never taking it for its own), and never touching a task or loop that is gone.
#include <uvtask/timeout.hpp>

#include <doctest/doctest.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;

namespace {

void spin_for(std::uint32_t iterations) {
    volatile std::uint32_t sink = 0;  // a store per iteration: the loop is not optimised away
    for (std::uint32_t i = 0; i < iterations; ++i) {
        sink = i;
    }
    static_cast<void>(sink);  // read back: the stores count as used
}

Task<void> yield_once() { co_await yield_now(); }

Task<void> sleep_then(std::chrono::milliseconds delay) { co_await sleep(delay); }

struct Handshake {
    std::atomic<int> round{0};      // the loop thread announces round N: the deadline expired
    std::atomic<int> ready{0};      // the other thread is spinning for round N
    std::atomic<int> cancelled{0};  // the other thread has cancelled in round N
    std::atomic<bool> stop{false};
};

/// The work of one round: makes its deadline expire (its request stays undelivered: the work
/// never suspends), waits until the other thread is on a CPU and spinning too, spins a seeded
/// while and returns a value — so the deadline's exit runs as the other thread's cancel() lands.
Task<int> expire_then_return(Deadline* deadline, Handshake* shake, int round,
                             std::uint32_t spin) {
    deadline->reschedule(Deadline::Clock::now() - 1ms);  // expires now: its request is pending
    shake->round.store(round, std::memory_order_release);
    while (shake->ready.load(std::memory_order_acquire) != round) {
    }
    spin_for(spin);
    co_return round;
}

Task<bool> one_round(Handshake* shake, int round, std::uint32_t spin) {
    Deadline deadline = Deadline::never();
    Ended<int> out = co_await outcome_of(deadline.run(expire_then_return(&deadline, shake,
                                                                           round, spin)));
    // The work returned its value despite the expiry: the value is delivered (atomic completion).
    CHECK(out.ok());
    while (shake->cancelled.load(std::memory_order_acquire) != round) {
        std::this_thread::yield();  // the other thread's cancel() has returned true
    }
    // That cancel must be delivered at the next suspension point, exactly once.
    CHECK(this_task::cancelling() == 1);
    Ended<void> next = co_await outcome_of(yield_once());
    const bool delivered = next.threw<CancelledError>() &&
                           next.as<CancelledError>()->message() == "from another thread";
    this_task::uncancel();
    co_return delivered;
}

}  // namespace

TEST_SUITE("timeout") {
    TEST_CASE("a cancel() from another thread landing as a deadline withdraws its own request is "
              "delivered, never taken for the deadline's (seeded, repeated)") {
        const char* seed_env = std::getenv("UVTASK_STRESS_SEED");
        const std::uint32_t seed =
            seed_env != nullptr ? static_cast<std::uint32_t>(std::strtoul(seed_env, nullptr, 10))
                                : std::random_device{}();
        const char* rounds_env = std::getenv("UVTASK_STRESS_ITERATIONS");
        const int rounds = rounds_env != nullptr ? std::atoi(rounds_env) : 3000;
        INFO("UVTASK_STRESS_SEED=" << seed);
        run_test(
            [](std::uint32_t seed, int rounds) -> Task<void> {
                Handshake shake;
                std::atomic<void*> target{nullptr};
                std::mt19937 random(seed);
                std::thread other([&shake, &target, seed] {
                    std::mt19937 delays(seed ^ 0x9e3779b9u);
                    for (int round = 1;; ++round) {
                        while (shake.round.load(std::memory_order_acquire) != round) {
                            if (shake.stop.load(std::memory_order_acquire)) {
                                return;
                            }
                        }
                        shake.ready.store(round, std::memory_order_release);
                        spin_for(delays() % 1500);  // lands before, during or after the exit
                        auto* handle = static_cast<TaskHandle<bool>*>(target.load());
                        CHECK(handle->cancel("from another thread"));
                        shake.cancelled.store(round, std::memory_order_release);
                    }
                });
                int delivered = 0;
                for (int round = 1; round <= rounds; ++round) {
                    TaskHandle<bool> worker = spawn(one_round(&shake, round, random() % 1000));
                    target.store(&worker);
                    const bool ok = co_await worker;
                    delivered += ok ? 1 : 0;
                    if (!ok) {
                        break;
                    }
                }
                shake.stop.store(true, std::memory_order_release);
                other.join();
                CHECK(delivered == rounds);
            }(seed, rounds),
            {.watchdog = std::chrono::milliseconds(120'000)});
    }

    TEST_CASE("a Deadline that outlives the frame it bounded, destroyed after the loop tore the "
              "frame down, touches nothing") {
        uv_loop_t loop;
        REQUIRE(uv_loop_init(&loop) == 0);
        struct Outside {
            Deadline deadline = Deadline::after(10s);
        };
        auto outside = std::make_unique<Outside>();
        {
            Loop adopted(&loop);
            adopted.set_exception_handler([](const ExceptionContext&) {});
            auto bounded = [](Deadline* d) -> Task<void> { co_await d->run(sleep_then(20s)); };
            TaskHandle<void> task = spawn(bounded(&outside->deadline));
            uv_run(&loop, UV_RUN_NOWAIT);  // the work starts: the deadline is armed
            uv_run(&loop, UV_RUN_NOWAIT);
        }  // the Loop destroys the pending task's frame, then its timers
        uv_run(&loop, UV_RUN_DEFAULT);
        outside.reset();  // must not touch the freed task or loop (AddressSanitizer checks)
        CHECK(uv_loop_close(&loop) == 0);
    }
}
