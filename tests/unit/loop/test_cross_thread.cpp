// docs/semantics.md §3.10 under stress: other threads cancel tasks while they sleep, yield, run checkpoint()
// loops, wait on other tasks or hold cancellation back — thousands of times, at random moments
// (a seeded RNG picks the work, the delays and the number of requests). Run under ASan: a task
// resumed twice or after its frame was freed, a leaked handle or state is caught there; the
// checks below catch a task ending twice or never, a sleep woken early, a request counted wrong
// or a CancelledError escaping a non_cancellable scope.
#include <uvtask/uvtask.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::run_test;

namespace {

using Clock = std::chrono::steady_clock;

enum class Kind : int { sleeper, checkpoint_loop, yielder, joiner, holder, count };

// What one task did, written by the loop thread (except `remote_true`).
struct Record {
    Kind kind = Kind::sleeper;
    std::atomic<int> remote_true{0};  // cancel() calls that returned true (other threads)
    int done_calls = 0;               // done callbacks run
    bool body_started = false;
    int body_exits = 0;           // the body's frame ended (returned, threw or was destroyed)
    bool woke_early = false;      // a sleep returned before its deadline
    bool hold_broken = false;     // CancelledError escaped a non_cancellable scope
    bool hold_completed = false;  // the work inside non_cancellable finished
    bool cancelled = false;
    int value = -1;
    TaskHandle<int> child;  // joiner: the task it awaits
    // Handed to the cancelling threads by the body when it starts (so that most requests
    // reach a task that is running or suspended), or by the spawner at once (before it starts).
    std::function<void()> hand_over;
};

void started(Record* record) {
    record->body_started = true;
    if (record->hand_over) {
        auto hand_over = std::move(record->hand_over);
        record->hand_over = nullptr;
        hand_over();
    }
}

void started_early(Record* record) {
    auto hand_over = std::move(record->hand_over);
    record->hand_over = nullptr;
    hand_over();
}

struct BodyExit {
    Record* record;
    ~BodyExit() { ++record->body_exits; }
};

Task<void> sleep_checked(Record* record, std::chrono::microseconds delay) {
    const auto start = Clock::now();
    co_await sleep(delay);
    if (Clock::now() - start < delay) {
        record->woke_early = true;
    }
}

Task<int> sleeper(Record* record, std::chrono::microseconds delay) {
    BodyExit exit{record};
    started(record);
    co_await sleep_checked(record, delay);
    co_await sleep_checked(record, delay / 2);
    co_return 0;
}

Task<int> checkpoint_loop(Record* record, int iterations) {
    BodyExit exit{record};
    started(record);
    volatile std::uint64_t sink = 0;
    for (int i = 0; i < iterations; ++i) {
        for (int k = 0; k < 64; ++k) {
            sink = sink + static_cast<std::uint64_t>(k);
        }
        co_await checkpoint();
    }
    co_return 1;
}

Task<int> yielder(Record* record, int iterations) {
    BodyExit exit{record};
    started(record);
    for (int i = 0; i < iterations; ++i) {
        co_await yield_now();
    }
    co_return 2;
}

Task<int> child_sleeper(std::chrono::microseconds delay) {
    co_await sleep(delay);
    co_return 10;
}

Task<int> joiner(Record* record, std::chrono::microseconds delay) {
    BodyExit exit{record};
    started(record);
    record->child = spawn(child_sleeper(delay));
    const int value = co_await record->child;  // a cancel of ours is passed on to the child
    co_return value + 3;
}

Task<void> held_work(Record* record, std::chrono::microseconds delay) {
    co_await sleep_checked(record, delay);
    co_await yield_now();
    co_await checkpoint();
    record->hold_completed = true;
}

Task<void> hold_and_note(Record* record, std::chrono::microseconds delay) {
    try {
        co_await non_cancellable(held_work(record, delay));
    } catch (const CancelledError&) {
        record->hold_broken = true;
        throw;
    }
}

Task<int> holder(Record* record, std::chrono::microseconds delay) {
    BodyExit exit{record};
    started(record);
    co_await hold_and_note(record, delay);
    co_await yield_now();  // requests held back are delivered here
    co_return 4;
}

// A thread that cancels the tasks it is handed, after a random busy-wait, one to three times,
// and drops its copy of the handle there (copy/destroy off the loop thread, §3.10).
class Canceller {
public:
    explicit Canceller(std::uint32_t seed) : rng_(seed), thread_([this] { run(); }) {}
    Canceller(const Canceller&) = delete;
    Canceller& operator=(const Canceller&) = delete;
    ~Canceller() { close(); }

    void push(TaskHandle<int> handle, Record* record) {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            jobs_.emplace_back(std::move(handle), record);
        }
        wake_.notify_one();
    }
    /// Finishes the jobs left and joins the thread.
    void close() {
        {
            std::lock_guard<std::mutex> guard(mutex_);
            closing_ = true;
        }
        wake_.notify_one();
        if (thread_.joinable()) {
            thread_.join();
        }
    }

private:
    void run() {
        for (;;) {
            std::pair<TaskHandle<int>, Record*> job;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
                if (jobs_.empty()) {
                    return;
                }
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            const int requests = 1 + static_cast<int>(rng_() % 3);
            for (int i = 0; i < requests; ++i) {
                const std::uint32_t pick = rng_() % 16;
                spin(pick < 4 ? 0 : pick < 15 ? rng_() % 3000 : rng_() % 300'000);
                if (job.first.cancel("remote",
                                     i % 2 == 0 ? CancelKind::user : CancelKind::signal)) {
                    job.second->remote_true.fetch_add(1);
                }
            }
            // `job.first` (a handle copy) is destroyed here, sometimes the last reference.
        }
    }
    static void spin(std::uint32_t rounds) {
        volatile std::uint32_t sink = 0;
        for (std::uint32_t i = 0; i < rounds; ++i) {
            sink = sink + i;
        }
    }

    std::mt19937 rng_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::pair<TaskHandle<int>, Record*>> jobs_;
    bool closing_ = false;
    std::thread thread_;  // last: starts once the rest is built
};

struct Totals {
    int spawned = 0;
    int cancelled = 0;
    int completed = 0;
    int started = 0;
};

/// Awaits `handle`, recording its outcome; a task ending cancelled is expected.
Task<void> settle(TaskHandle<int> handle, Record* record) {
    try {
        record->value = co_await handle;
    } catch (const CancelledError&) {
        record->cancelled = true;
    }
    CHECK(handle.done());
    CHECK(handle.cancelled() == record->cancelled);
}

Task<void> stress(int iterations, std::uint32_t seed, Totals* totals) {
    std::mt19937 rng(seed);
    std::deque<Record> records;
    std::vector<std::pair<TaskHandle<int>, Record*>> kept;
    std::deque<std::pair<TaskHandle<int>, Record*>> in_flight;
    {
        Canceller first(seed + 1);
        Canceller second(seed + 2);
        const std::chrono::nanoseconds slices[] = {0ns, 20us, 1h};
        for (int i = 0; i < iterations; ++i) {
            Loop::current()->set_time_slice(slices[rng() % 3]);
            Record& record = records.emplace_back();
            record.kind = static_cast<Kind>(rng() % static_cast<int>(Kind::count));
            const auto delay = std::chrono::microseconds(rng() % 1500);
            TaskHandle<int> handle;
            switch (record.kind) {
                case Kind::sleeper: handle = spawn(sleeper(&record, delay)); break;
                case Kind::checkpoint_loop:
                    handle = spawn(checkpoint_loop(&record, 200 + static_cast<int>(rng() % 2000)));
                    break;
                case Kind::yielder:
                    handle = spawn(yielder(&record, 1 + static_cast<int>(rng() % 50)));
                    break;
                case Kind::joiner: handle = spawn(joiner(&record, delay)); break;
                case Kind::holder: handle = spawn(holder(&record, delay)); break;
                case Kind::count: break;
            }
            Record* noted = &record;
            handle.add_done_callback([noted](const TaskHandle<int>&) { ++noted->done_calls; });
            ++totals->spawned;
            const bool both = rng() % 4 == 0;  // two threads race on the same task
            // The handle copy is moved out of the record when handed over.
            record.hand_over = [handle, noted, both, &first, &second] {
                first.push(handle, noted);
                if (both) {
                    second.push(handle, noted);
                }
            };
            if (rng() % 16 == 0) {
                started_early(&record);  // requests may arrive before the body first runs
            }
            in_flight.emplace_back(std::move(handle), &record);
            if (rng() % 8 == 0) {
                co_await yield_now();
            }
            // Up to eight tasks at once; settle the oldest ones.
            const std::size_t window = 1 + rng() % 8;
            while (in_flight.size() > window) {
                TaskHandle<int> oldest = std::move(in_flight.front().first);
                Record* oldest_record = in_flight.front().second;
                in_flight.pop_front();
                co_await settle(oldest, oldest_record);
                if (rng() % 4 != 0) {  // else the thread may drop the last reference
                    kept.emplace_back(std::move(oldest), oldest_record);
                }
            }
        }
        while (!in_flight.empty()) {
            TaskHandle<int> oldest = std::move(in_flight.front().first);
            Record* oldest_record = in_flight.front().second;
            in_flight.pop_front();
            co_await settle(oldest, oldest_record);
            kept.emplace_back(std::move(oldest), oldest_record);
        }
        // The Cancellers' destructors finish their jobs and join their threads here.
    }

    int ended_twice = 0;
    int ended_never = 0;
    int body_exit_mismatch = 0;
    int cancelled_without_request = 0;
    int skipped_body_not_cancelled = 0;
    int woke_early = 0;
    int hold_broken = 0;
    int hold_incomplete = 0;
    int wrong_value = 0;
    int child_not_done = 0;
    int child_over_cancelled = 0;
    for (Record& record : records) {
        ended_twice += record.done_calls > 1 ? 1 : 0;
        ended_never += record.done_calls == 0 ? 1 : 0;
        body_exit_mismatch += record.body_exits != (record.body_started ? 1 : 0) ? 1 : 0;
        cancelled_without_request += record.cancelled && record.remote_true.load() == 0 ? 1 : 0;
        skipped_body_not_cancelled += !record.body_started && !record.cancelled ? 1 : 0;
        woke_early += record.woke_early ? 1 : 0;
        hold_broken += record.hold_broken ? 1 : 0;
        if (record.kind == Kind::holder && record.body_started && !record.hold_completed) {
            ++hold_incomplete;
        }
        if (!record.cancelled) {
            static constexpr int expected[] = {0, 1, 2, 13, 4};
            wrong_value += record.value != expected[static_cast<int>(record.kind)] ? 1 : 0;
        }
        if (record.kind == Kind::joiner && record.child.valid()) {
            // The join waits for the child's end; only our forwarded requests reach the child.
            child_not_done += record.child.done() ? 0 : 1;
            child_over_cancelled += record.child.cancelling() > record.remote_true.load() ? 1 : 0;
        }
        totals->cancelled += record.cancelled ? 1 : 0;
        totals->completed += record.cancelled ? 0 : 1;
        totals->started += record.body_started ? 1 : 0;
    }
    CHECK(ended_twice == 0);
    CHECK(ended_never == 0);
    CHECK(body_exit_mismatch == 0);
    CHECK(cancelled_without_request == 0);
    CHECK(skipped_body_not_cancelled == 0);
    CHECK(woke_early == 0);
    CHECK(hold_broken == 0);
    CHECK(hold_incomplete == 0);
    CHECK(wrong_value == 0);
    CHECK(child_not_done == 0);
    CHECK(child_over_cancelled == 0);
    // Every request that returned true is counted once, whichever thread made it.
    int miscounted = 0;
    for (const auto& entry : kept) {
        miscounted += entry.first.cancelling() != entry.second->remote_true.load() ? 1 : 0;
    }
    CHECK(miscounted == 0);
}

}  // namespace

TEST_SUITE("cross_thread") {
    TEST_CASE(
        "other threads cancel sleeping, yielding, checkpointing, joining and holding tasks at "
        "random moments: every task ends exactly once and nothing leaks") {
        Totals totals;
        uvtask::testing::RunTestOptions options;
        options.watchdog = 120s;
        run_test(stress(4000, 20260101u, &totals), options);
        CHECK(totals.spawned == 4000);
        CHECK(totals.cancelled + totals.completed == totals.spawned);
        // The interleavings the test is about happened (not a timing assertion: with 4000 tasks
        // and up to three remote requests each, both outcomes occur whatever the machine's speed).
        CHECK(totals.cancelled > 0);
        CHECK(totals.completed > 0);
        MESSAGE("cancelled " << totals.cancelled << ", completed " << totals.completed
                             << ", never started " << totals.spawned - totals.started);
    }

}  // TEST_SUITE
