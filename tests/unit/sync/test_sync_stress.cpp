// Randomized schedules on a Queue and a Semaphore: producers, consumers, deadlines and cancels
// interleaved at random, reproducibly (no timers: every step is a yield, so a seed fixes the whole
// schedule). Invariants: every item produced is consumed exactly once or is still in the queue;
// permits are conserved and never over-granted.
//
// UVTASK_STRESS_ITERATIONS (default 5000) and UVTASK_STRESS_SEED (default 20240601) override the
// run; a failure names the seed of its iteration, which reproduces it alone with
// UVTASK_STRESS_ITERATIONS=1 UVTASK_STRESS_SEED=<seed>.
#include <uvtask/queue.hpp>
#include <uvtask/semaphore.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ended.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::Ended;
using uvtask::testing::outcome_of;
using uvtask::testing::run_test;
using uvtask::testing::RunTestOptions;
using uvtask::testing::settled;

namespace {

/// Totals over every world, to show the schedules really exercise the races.
struct Totals {
    std::uint64_t produced = 0;
    std::uint64_t consumed = 0;
    std::uint64_t left_in_queue = 0;
    std::uint64_t workers_cancelled = 0;
    std::uint64_t deadlines_expired = 0;
    std::uint64_t permits_taken = 0;
    std::uint64_t items_kept_despite_cancel = 0;  // a pop handed its item, then cancelled
};
Totals totals;

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
    const char* text = std::getenv(name);
    return text != nullptr ? std::strtoull(text, nullptr, 10) : fallback;
}

struct World {
    World(std::uint64_t seed, std::size_t capacity, int permits)
        : rng(static_cast<std::mt19937::result_type>(seed)), queue(capacity), semaphore(permits),
          initial_permits(permits) {}

    int below(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }

    std::mt19937 rng;
    Queue<int> queue;
    Semaphore semaphore;
    int initial_permits;
    int permits_held = 0;
    bool over_granted = false;
    std::vector<int> produced;  // pushes that completed
    std::vector<int> consumed;  // pops that returned an item
    std::vector<Deadline*> deadlines;  // live deadlines the chaos task may expire
    std::vector<TaskHandle<void>> workers;
};

/// Keeps a Deadline in the world's registry while it is in scope.
class Registered {
public:
    Registered(World* world, Deadline* deadline) : world_(world), deadline_(deadline) {
        world_->deadlines.push_back(deadline_);
    }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;
    ~Registered() {
        auto& list = world_->deadlines;
        list.erase(std::find(list.begin(), list.end(), deadline_));
    }

private:
    World* world_;
    Deadline* deadline_;
};

/// Counts a held permit while in scope.
class Held {
public:
    explicit Held(World* world) : world_(world) {
        ++world_->permits_held;
        ++totals.permits_taken;
        if (world_->permits_held > world_->initial_permits) {
            world_->over_granted = true;
        }
    }
    Held(const Held&) = delete;
    Held& operator=(const Held&) = delete;
    ~Held() { --world_->permits_held; }

private:
    World* world_;
};

Ended<std::optional<int>> outcome_of_try_pop(Queue<int>* queue) {
    Ended<std::optional<int>> out;
    try {
        std::optional<int> item = queue->try_pop();
        if (!item) {
            throw QueueClosedError();  // closed queues never return nullopt while items remain
        }
        out.value.emplace(item);
    } catch (...) {
        out.error = std::current_exception();
    }
    return out;
}

Task<void> yields(int n) {
    for (int i = 0; i < n; ++i) {
        co_await yield_now();
    }
}

Task<void> push_record(World* w, int item) {
    co_await w->queue.push(item);
    w->produced.push_back(item);  // before any other suspension point: exact
}

Task<void> pop_record(World* w) {
    const int item = co_await w->queue.pop();
    w->consumed.push_back(item);
    if (this_task::cancel_requested()) {
        ++totals.items_kept_despite_cancel;  // atomic completion: the item is ours
    }
}

Task<void> with_permit(World* w, int hold_yields) {
    SemaphoreGuard permit = co_await w->semaphore.scoped();
    Held held(w);
    co_await yields(hold_yields);
}

Task<void> producer(World* w, int id, int count) {
    for (int k = 0; k < count; ++k) {
        const int item = id * 1000 + k;
        switch (w->below(4)) {
            case 0:
            case 1:
                co_await push_record(w, item);
                break;
            case 2:
                if (w->queue.try_push(item)) {
                    w->produced.push_back(item);
                }
                break;
            default: {
                Deadline deadline = Deadline::never();
                Registered registered(w, &deadline);
                [[maybe_unused]] const bool done = co_await deadline.move_on(push_record(w, item));
                break;
            }
        }
        co_await yields(w->below(3));
    }
}

Task<void> consumer(World* w, int count) {
    for (int k = 0; k < count; ++k) {
        switch (w->below(5)) {
            case 0:
                co_await pop_record(w);
                break;
            case 1: {
                std::optional<int> item = w->queue.try_pop();
                if (item) {
                    w->consumed.push_back(*item);
                }
                break;
            }
            case 2: {
                Deadline deadline = Deadline::never();
                Registered registered(w, &deadline);
                [[maybe_unused]] const bool done = co_await deadline.move_on(pop_record(w));
                break;
            }
            case 3: {
                Deadline deadline = Deadline::never();
                Registered registered(w, &deadline);
                [[maybe_unused]] const bool done =
                    co_await deadline.move_on(with_permit(w, w->below(4)));
                break;
            }
            default:
                co_await with_permit(w, w->below(4));
                break;
        }
        co_await yields(w->below(3));
    }
}

/// Cancels random workers and expires random deadlines, between random numbers of yields.
Task<void> chaos(World* w, int steps) {
    for (int s = 0; s < steps; ++s) {
        co_await yields(w->below(4));
        const int action = w->below(3);
        if (action == 0 && !w->workers.empty()) {
            w->workers[static_cast<std::size_t>(w->below(static_cast<int>(w->workers.size())))]
                .cancel("chaos");
        } else if (action == 1 && !w->deadlines.empty()) {
            Deadline* d =
                w->deadlines[static_cast<std::size_t>(w->below(static_cast<int>(w->deadlines.size())))];
            if (!d->expired()) {
                d->reschedule(Deadline::Clock::now() - 1ms);  // expires now, like its timer
                ++totals.deadlines_expired;
            }
        }
    }
}

/// One random world; returns an empty string if every invariant held, else what broke.
Task<std::string> one_world(std::uint64_t seed) {
    std::mt19937 setup(static_cast<std::mt19937::result_type>(seed));
    const int capacity_pick = static_cast<int>(setup() % 5);  // 0..3, or 4: unbounded
    const std::size_t capacity =
        capacity_pick == 4 ? Queue<int>::unbounded : static_cast<std::size_t>(capacity_pick);
    World w(seed, capacity, 1 + static_cast<int>(setup() % 3));
    const int producers = 1 + static_cast<int>(setup() % 4);
    const int consumers = 1 + static_cast<int>(setup() % 4);
    for (int p = 0; p < producers; ++p) {
        w.workers.push_back(spawn(producer(&w, p + 1, static_cast<int>(setup() % 9))));
    }
    for (int c = 0; c < consumers; ++c) {
        w.workers.push_back(spawn(consumer(&w, static_cast<int>(setup() % 9))));
    }
    TaskHandle<void> chaos_task = spawn(chaos(&w, 1 + static_cast<int>(setup() % 12)));
    co_await settled(chaos_task);
    // Consumers may wait forever on an empty queue once producers are done: cancel what is left.
    for (int round = 0; round < 1000; ++round) {
        bool all_done = true;
        for (auto& worker : w.workers) {
            all_done = all_done && worker.done();
        }
        if (all_done) {
            break;
        }
        if (round > 50) {
            for (auto& worker : w.workers) {
                worker.cancel("end of world");
            }
        }
        co_await yield_now();
    }
    for (auto& worker : w.workers) {
        Ended<void> out = co_await settled(worker);
        if (!out.ok() && !out.threw<CancelledError>()) {
            co_return "a worker failed with something other than CancelledError";
        }
        totals.workers_cancelled += out.threw<CancelledError>() ? 1 : 0;
    }
    w.queue.close();
    std::vector<int> remaining;
    for (;;) {
        Ended<std::optional<int>> next = outcome_of_try_pop(&w.queue);
        if (!next.ok()) {
            break;
        }
        remaining.push_back(**next.value);
    }
    totals.produced += w.produced.size();
    totals.consumed += w.consumed.size();
    totals.left_in_queue += remaining.size();
    std::vector<int> accounted = w.consumed;
    accounted.insert(accounted.end(), remaining.begin(), remaining.end());
    std::sort(accounted.begin(), accounted.end());
    std::vector<int> produced = w.produced;
    std::sort(produced.begin(), produced.end());
    if (std::adjacent_find(accounted.begin(), accounted.end()) != accounted.end()) {
        co_return "an item was consumed twice";
    }
    if (accounted != produced) {
        co_return "produced " + std::to_string(produced.size()) + " items, accounted for " +
            std::to_string(accounted.size());
    }
    if (w.over_granted) {
        co_return "more permits granted than the semaphore has";
    }
    if (w.permits_held != 0 || w.semaphore.value() != w.initial_permits) {
        co_return "permits not conserved: value " + std::to_string(w.semaphore.value()) +
            " of " + std::to_string(w.initial_permits);
    }
    co_return std::string();
}

}  // namespace

TEST_SUITE("sync_stress") {
    TEST_CASE("random producers, consumers, deadlines and cancels lose no item and no permit") {
        const std::uint64_t iterations = env_or("UVTASK_STRESS_ITERATIONS", 5000);
        const std::uint64_t base_seed = env_or("UVTASK_STRESS_SEED", 20240601);
        run_test(
            [](std::uint64_t iterations, std::uint64_t base_seed) -> Task<void> {
                for (std::uint64_t i = 0; i < iterations; ++i) {
                    const std::uint64_t seed = base_seed + i;
                    const std::string broken = co_await one_world(seed);
                    INFO("seed " << seed << ": " << broken);
                    REQUIRE(broken.empty());
                }
            }(iterations, base_seed),
            RunTestOptions{.watchdog = std::chrono::milliseconds(240'000)});
        MESSAGE("produced " << totals.produced << ", consumed " << totals.consumed << ", left "
                            << totals.left_in_queue << ", workers cancelled "
                            << totals.workers_cancelled << ", deadlines expired "
                            << totals.deadlines_expired << ", permits taken "
                            << totals.permits_taken << ", items kept despite a cancel "
                            << totals.items_kept_despite_cancel);
        // The schedules must reach every path, or the invariants above prove little.
        CHECK(totals.consumed > 0);
        CHECK(totals.left_in_queue > 0);
        CHECK(totals.workers_cancelled > 0);
        CHECK(totals.deadlines_expired > 0);
        CHECK(totals.permits_taken > 0);
        CHECK(totals.items_kept_despite_cancel > 0);
    }
}
