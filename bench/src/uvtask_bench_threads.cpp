// uvtask's side of the threads scenarios of bench/PROTOCOL.md (S8): a task on loop A cancelled by
// a task on loop B (S8a, S8b), and Loop::post from foreign threads (S8_post_rtt, the round trip;
// S8_post_1thread / S8_post_2threads, posts delivered per second), and the round trip's floor on
// bare libuv (floor_uv_async_rtt). The loops are those of a
// LoopGroup, as an application would write it. Prints one JSON object (runtime "uvtask", the S8
// metrics only) on stdout; bench/report.py merges it with bench/out/uvtask.json.
//
//   uvtask_bench_threads [--quick] [--only S8]
#include <uvtask/uvtask.hpp>

#include "bench_json.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace uvtask;
using namespace std::chrono_literals;
using bench::latency_metric;
using bench::now;
using bench::Params;
using bench::scalar_metric;

namespace {

// ---- S8: a task on loop A (group.loop(1)) cancelled by a task on loop B (group.loop(0))

// Written on loop A's thread, read on loop B's: release/acquire, so that B sees the task inside
// its body (and, after the join, the handler's time; the join itself also orders them).
struct CrossProbe {
    std::atomic<bool> started{false};
    std::atomic<std::uint64_t> t_handler{0};
};

Task<std::string> sleeping_worker(CrossProbe* probe) {
    probe->started.store(true, std::memory_order_release);
    try {
        co_await sleep(10s);
        co_return "Done";
    } catch (const CancelledError&) {
        probe->t_handler.store(now(), std::memory_order_release);
        co_return "Canceled";
    }
}

// The canceller: runs on loop 0 (LoopGroup::run's main task); the worker is spawned on loop 1.
Task<void> s8(LoopGroup* group, int warmup, int reps) {
    Loop& far = group->loop(1);
    std::vector<std::uint64_t> to_handler;
    std::vector<std::uint64_t> to_join;
    for (int i = 0; i < warmup + reps; ++i) {
        CrossProbe probe;
        TaskHandle<std::string> worker = spawn_on(far, sleeping_worker(&probe));
        while (!probe.started.load(std::memory_order_acquire)) {
            co_await yield_now();
        }
        const std::uint64_t t0 = now();
        worker.cancel();
        std::string result = co_await worker;  // the cross-loop join
        const std::uint64_t t_join = now();
        if (result != "Canceled") {
            std::fprintf(stderr, "S8: unexpected result %s\n", result.c_str());
            std::exit(1);
        }
        if (i >= warmup) {
            to_handler.push_back(probe.t_handler.load(std::memory_order_acquire) - t0);
            to_join.push_back(t_join - t0);
        }
    }
    latency_metric("S8a", std::move(to_handler));
    latency_metric("S8b", std::move(to_join));
}

// ---- S8_post_rtt: this (foreign) thread posts a call to a running, idle loop and blocks on a
// futex (std::atomic::wait) until the call has set the flag and woken it.

void post_rtt(Loop& loop, int warmup, int reps) {
    std::vector<std::uint64_t> samples;
    samples.reserve(static_cast<std::size_t>(reps));
    std::atomic<std::uint32_t> done{0};
    for (int i = 0; i < warmup + reps; ++i) {
        done.store(0, std::memory_order_relaxed);
        const std::uint64_t t0 = now();
        loop.post([&done] {
            done.store(1, std::memory_order_release);  // pairs with the acquire of wait below
            done.notify_one();
        });
        done.wait(0, std::memory_order_acquire);
        const std::uint64_t t1 = now();
        if (i >= warmup) {
            samples.push_back(t1 - t0);
        }
    }
    latency_metric("S8_post_rtt", std::move(samples));
}

// ---- floor_uv_async_rtt: S8_post_rtt on bare libuv, without uvtask: a thread runs uv_run with
// a uv_async_t; this thread takes t0, calls uv_async_send and blocks on the same futex; the async
// callback sets the flag and wakes it. What any runtime on libuv pays for the round trip.

struct UvRtt {
    uv_loop_t loop{};
    uv_async_t async{};
    std::atomic<std::uint32_t> done{0};
    std::atomic<bool> stop{false};
};

void floor_uv_async_rtt(int warmup, int reps) {
    UvRtt rtt;
    uv_loop_init(&rtt.loop);
    rtt.loop.data = &rtt;
    uv_async_init(&rtt.loop, &rtt.async, [](uv_async_t* handle) {
        auto* r = static_cast<UvRtt*>(handle->loop->data);
        if (r->stop.load(std::memory_order_acquire)) {
            uv_close(reinterpret_cast<uv_handle_t*>(&r->async), nullptr);
            return;
        }
        r->done.store(1, std::memory_order_release);
        r->done.notify_one();
    });
    std::thread runner([&rtt] { uv_run(&rtt.loop, UV_RUN_DEFAULT); });
    std::vector<std::uint64_t> samples;
    samples.reserve(static_cast<std::size_t>(reps));
    for (int i = 0; i < warmup + reps; ++i) {
        rtt.done.store(0, std::memory_order_relaxed);
        const std::uint64_t t0 = now();
        uv_async_send(&rtt.async);
        rtt.done.wait(0, std::memory_order_acquire);
        const std::uint64_t t1 = now();
        if (i >= warmup) {
            samples.push_back(t1 - t0);
        }
    }
    rtt.stop.store(true, std::memory_order_release);
    uv_async_send(&rtt.async);
    runner.join();
    uv_loop_close(&rtt.loop);
    latency_metric("floor_uv_async_rtt", std::move(samples));
}

// ---- S8_post_<n>thread(s): n foreign threads post `per_thread` calls each as fast as they can;
// posts delivered per second = all of them / (t0 → the loop has run the last one).

struct Delivery {
    std::uint64_t delivered = 0;  // loop thread only
    std::uint64_t total = 0;
    std::atomic<std::uint64_t> t_end{0};
    std::atomic<std::uint32_t> done{0};
};

void post_throughput(Loop& loop, int threads, std::uint64_t per_thread, const std::string& name) {
    Delivery delivery;
    delivery.total = per_thread * static_cast<std::uint64_t>(threads);
    std::atomic<bool> go{false};
    std::vector<std::thread> posters;
    for (int t = 0; t < threads; ++t) {
        posters.emplace_back([&loop, &go, &delivery, per_thread] {
            go.wait(false, std::memory_order_acquire);
            Delivery* d = &delivery;
            for (std::uint64_t i = 0; i < per_thread; ++i) {
                loop.post([d] {
                    if (++d->delivered == d->total) {
                        d->t_end.store(now(), std::memory_order_relaxed);
                        d->done.store(1, std::memory_order_release);  // publishes t_end
                        d->done.notify_one();
                    }
                });
            }
        });
    }
    std::this_thread::sleep_for(10ms);  // the posters are waiting for `go`
    const std::uint64_t t0 = now();
    go.store(true, std::memory_order_release);
    go.notify_all();
    delivery.done.wait(0, std::memory_order_acquire);
    for (std::thread& poster : posters) {
        poster.join();
    }
    const auto elapsed = static_cast<double>(delivery.t_end.load(std::memory_order_relaxed) - t0);
    scalar_metric(name, "posts/s", static_cast<double>(delivery.total) / (elapsed / 1e9));
}

}  // namespace

int main(int argc, char** argv) {
    Params params;
    if (!bench::parse_params(argc, argv, params)) {
        return 2;
    }
    if (params.wants("S8")) {
        {
            LoopGroup group(2);  // loop 0: the canceller (B); loop 1: the cancelled task (A)
            group.run(s8(&group, params.pick(500, 100), params.pick(10'000, 1'000)));
        }
        {
            LoopGroup group(1);  // a running loop; this thread and the posters are foreign
            post_rtt(group.loop(0), params.pick(500, 100), params.pick(10'000, 1'000));
            const auto per_thread = static_cast<std::uint64_t>(params.pick(1'000'000, 100'000));
            post_throughput(group.loop(0), 1, per_thread, "S8_post_1thread");
            post_throughput(group.loop(0), 2, per_thread, "S8_post_2threads");
        }
        floor_uv_async_rtt(params.pick(500, 100), params.pick(10'000, 1'000));
    }
    bench::print_result();
    return 0;
}
