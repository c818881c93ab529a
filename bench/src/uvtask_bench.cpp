// uvtask's side of the cancellation-latency benchmark: scenarios S1–S7 of bench/PROTOCOL.md,
// plus the floors no runtime can beat on this machine (a hot and a cold throw+catch, a libuv
// loop's wake-up by another thread), printed as one JSON object on stdout.
#include <uvtask/uvtask.hpp>

#include "bench_json.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <stop_token>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace uvtask;
using namespace std::chrono_literals;

namespace {

using bench::latency_metric;
using bench::median;
using bench::now;
using bench::Params;
using bench::scalar_metric;

std::size_t rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    std::size_t total = 0;
    std::size_t resident = 0;
    statm >> total >> resident;
    return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// ---- floor: one throw + catch of CancelledError

[[gnu::noinline]] void throw_cancelled() { throw CancelledError(); }

void floor_throw_catch(int reps) {
    std::vector<std::uint64_t> samples;
    samples.reserve(static_cast<std::size_t>(reps));
    for (int i = 0; i < reps + 100; ++i) {
        const std::uint64_t t0 = now();
        try {
            throw_cancelled();
        } catch (const CancelledError&) {
            const std::uint64_t t1 = now();
            if (i >= 100) {
                samples.push_back(t1 - t0);
            }
        }
    }
    latency_metric("floor_throw_catch", std::move(samples));
}

// ---- floor for S3: the same throw+catch after the CPU has spun for the S3 delay in ~10 µs
// chunks, as S3's task does. On a VM the unwinder's code and tables are evicted meanwhile (a
// cold throw costs several times a hot one): S3 can never be cheaper than this.

[[gnu::noinline]] void spin_chunk() noexcept {
    const std::uint64_t until = now() + 10'000;
    while (now() < until) {
    }
}

void floor_cold_throw_catch(int warmup, int reps, std::chrono::milliseconds delay) {
    std::vector<std::uint64_t> samples;
    const auto delay_ns = static_cast<std::uint64_t>(delay / std::chrono::nanoseconds(1));
    for (int i = 0; i < warmup + reps; ++i) {
        const std::uint64_t end = now() + delay_ns;
        while (now() < end) {
            spin_chunk();
        }
        const std::uint64_t t0 = now();
        try {
            throw_cancelled();
        } catch (const CancelledError&) {
            const std::uint64_t t1 = now();
            if (i >= warmup) {
                samples.push_back(t1 - t0);
            }
        }
    }
    latency_metric("floor_cold_throw_catch", std::move(samples));
}

// ---- floor for S5: S5 without uvtask, on bare libuv. A libuv loop blocked in uv_run (a 10 s
// timer pending, as S5's sleeping task has) tells another thread to go (a futex wake, not
// measured) and goes back to sleep; that thread takes t0 and calls uv_async_send; t1 in the
// async callback. Any runtime on libuv pays this wake-up; on this VM it depends mostly on
// whether the two threads share a CPU (a local switch) or not (an IPI to an idle vCPU).

struct UvWake {
    uv_loop_t loop{};
    uv_timer_t timer{};
    uv_async_t async{};
    std::atomic<int> go{0};  // 0 idle, 1 send now, 2 exit
    std::atomic<std::uint64_t> t0{0};
    int done = 0;
    int warmup = 0;
    int total = 0;
    std::vector<std::uint64_t> samples;
};

void floor_uv_async_wake(int warmup, int reps) {
    UvWake wake;
    wake.warmup = warmup;
    wake.total = warmup + reps;
    uv_loop_init(&wake.loop);
    wake.loop.data = &wake;
    uv_timer_init(&wake.loop, &wake.timer);
    uv_timer_start(
        &wake.timer, [](uv_timer_t*) {}, 10'000, 0);
    uv_async_init(&wake.loop, &wake.async, [](uv_async_t* handle) {
        const std::uint64_t t1 = now();
        auto* w = static_cast<UvWake*>(handle->loop->data);
        while (w->go.load() != 0) {  // the sender has finished with the handle
        }
        if (w->done++ >= w->warmup) {
            w->samples.push_back(t1 - w->t0.load());
        }
        if (w->done < w->total) {
            w->go.store(1);
            w->go.notify_one();
        } else {
            uv_close(reinterpret_cast<uv_handle_t*>(&w->async), nullptr);
            uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), nullptr);
        }
    });
    std::thread sender([&wake] {
        for (;;) {
            wake.go.wait(0);
            if (wake.go.load() == 2) {
                return;
            }
            wake.t0.store(now());
            uv_async_send(&wake.async);
            wake.go.store(0);
        }
    });
    wake.go.store(1);
    wake.go.notify_one();
    uv_run(&wake.loop, UV_RUN_DEFAULT);
    wake.go.store(2);
    wake.go.notify_one();
    sender.join();
    uv_loop_close(&wake.loop);
    latency_metric("floor_uv_async_wake", std::move(wake.samples));
}

// ---- S1: cancel a task sleeping 10 s on the same loop

struct Probe {
    bool started = false;
    std::uint64_t t_handler = 0;
};

Task<std::string> sleeping_worker(Probe* probe) {
    probe->started = true;
    try {
        co_await sleep(10s);
        co_return "Done";
    } catch (const CancelledError&) {
        probe->t_handler = now();
        co_return "Canceled";
    }
}

Task<void> s1(int warmup, int reps) {
    std::vector<std::uint64_t> to_handler;
    std::vector<std::uint64_t> to_join;
    for (int i = 0; i < warmup + reps; ++i) {
        Probe probe;
        TaskHandle<std::string> worker = spawn(sleeping_worker(&probe));
        while (!probe.started) {
            co_await yield_now();
        }
        const std::uint64_t t0 = now();
        worker.cancel();
        std::string result = co_await worker;
        const std::uint64_t t_join = now();
        if (result != "Canceled") {
            std::fprintf(stderr, "S1: unexpected result %s\n", result.c_str());
        }
        if (i >= warmup) {
            to_handler.push_back(probe.t_handler - t0);
            to_join.push_back(t_join - t0);
        }
    }
    latency_metric("S1a", std::move(to_handler));
    latency_metric("S1b", std::move(to_join));
}

// ---- S2: yield_now() and checkpoint() cost

Task<void> yield_loop(int count) {
    for (int i = 0; i < count; ++i) {
        co_await yield_now();
    }
}

Task<void> checkpoint_loop(int count) {
    for (int i = 0; i < count; ++i) {
        co_await checkpoint();
    }
}

Task<void> s2(int count, int runs) {
    std::vector<double> yield_runs;
    std::vector<double> checkpoint_runs;
    for (int r = 0; r < runs; ++r) {
        const std::uint64_t t0 = now();
        co_await yield_loop(count);
        const std::uint64_t t1 = now();
        yield_runs.push_back(static_cast<double>(t1 - t0) / count);
    }
    for (int r = 0; r < runs; ++r) {
        const std::uint64_t t0 = now();
        co_await checkpoint_loop(count * 10);
        const std::uint64_t t1 = now();
        checkpoint_runs.push_back(static_cast<double>(t1 - t0) / (count * 10.0));
    }
    scalar_metric("S2_yield", "ns/op", median(yield_runs), yield_runs);
    scalar_metric("S2_checkpoint", "ns/op", median(checkpoint_runs), checkpoint_runs);
}

// ---- S3: CPU-bound task yielding every ~10 µs, cancelled by a timer

Task<void> cpu_bound_worker(Probe* probe) {
    probe->started = true;
    try {
        for (;;) {
            const std::uint64_t until = now() + 10'000;
            while (now() < until) {
            }
            co_await yield_now();
        }
    } catch (const CancelledError&) {
        probe->t_handler = now();
    }
}

Task<void> s3(int warmup, int reps, std::chrono::milliseconds delay) {
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < warmup + reps; ++i) {
        Probe probe;
        TaskHandle<void> worker = spawn(cpu_bound_worker(&probe));
        co_await sleep(delay);
        const std::uint64_t t0 = now();
        worker.cancel();
        co_await worker;
        if (i >= warmup) {
            samples.push_back(probe.t_handler - t0);
        }
    }
    latency_metric("S3", std::move(samples));
}

// ---- S4: many sleeping tasks

Task<void> long_sleeper(std::size_t* started) {
    ++*started;
    try {
        co_await sleep(60s);
    } catch (const CancelledError&) {
    }
}

Task<void> s4(std::size_t count, const std::string& label) {
    const std::size_t rss0 = rss_bytes();
    std::size_t started = 0;
    std::vector<TaskHandle<void>> tasks;
    tasks.reserve(count);
    const std::uint64_t t0 = now();
    for (std::size_t i = 0; i < count; ++i) {
        tasks.push_back(spawn(long_sleeper(&started)));
    }
    while (started < count) {
        co_await yield_now();
    }
    const std::uint64_t t1 = now();
    const std::size_t rss1 = rss_bytes();
    const std::uint64_t t2 = now();
    for (auto& task : tasks) {
        task.cancel();
    }
    for (auto& task : tasks) {
        co_await task;
    }
    const std::uint64_t t3 = now();
    const auto n = static_cast<double>(count);
    scalar_metric("S4_" + label + "_spawn", "ns/task", static_cast<double>(t1 - t0) / n);
    scalar_metric("S4_" + label + "_bytes", "bytes/task",
                  static_cast<double>(rss1 > rss0 ? rss1 - rss0 : 0) / n);
    scalar_metric("S4_" + label + "_cancel_join", "ns", static_cast<double>(t3 - t2));
    scalar_metric("S4_" + label + "_cancels_per_s", "1/s",
                  n / (static_cast<double>(t3 - t2) / 1e9));
}

// ---- S5: cancel from another OS thread

struct Remote {
    std::atomic<int> go{0};  // 0 idle, 1 cancel now, 2 exit
    TaskHandle<std::string> target;
    std::uint64_t t0 = 0;
};

void remote_canceller(Remote* remote) {
    for (;;) {
        remote->go.wait(0);
        if (remote->go.load() == 2) {
            return;
        }
        remote->t0 = now();
        remote->target.cancel();
        remote->go.store(0);
    }
}

Task<void> s5(int warmup, int reps) {
    Remote remote;
    std::thread thread(remote_canceller, &remote);
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < warmup + reps; ++i) {
        Probe probe;
        remote.target = spawn(sleeping_worker(&probe));
        while (!probe.started) {
            co_await yield_now();
        }
        remote.go.store(1);
        remote.go.notify_one();
        std::string result = co_await remote.target;
        while (remote.go.load() != 0) {
            std::this_thread::yield();  // the thread has finished with `target`
        }
        if (i >= warmup) {
            samples.push_back(probe.t_handler - remote.t0);
        }
        remote.target = {};
    }
    remote.go.store(2);
    remote.go.notify_one();
    thread.join();
    latency_metric("S5", std::move(samples));
}

// ---- S6: cancel a task blocked on a loopback TCP read

Task<std::string> blocked_reader(TcpStream* stream, Probe* probe) {
    probe->started = true;
    std::array<char, 4096> buffer{};
    try {
        const std::size_t n = co_await stream->read_some(buffer);
        co_return n == 0 ? "EOF" : "Data";
    } catch (const CancelledError&) {
        probe->t_handler = now();
        co_return "Canceled";
    }
}

Task<TcpStream> accept_one(TcpListener* listener) {
    TcpStream stream = co_await listener->accept();
    co_return stream;
}

Task<void> s6(int warmup, int reps) {
    TcpListener listener = TcpListener::bind("127.0.0.1", 0);
    TaskHandle<TcpStream> accepting = spawn(accept_one(&listener));
    TcpStream client = co_await TcpStream::connect(listener.local_address());
    TcpStream server = co_await accepting;
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < warmup + reps; ++i) {
        Probe probe;
        TaskHandle<std::string> reader = spawn(blocked_reader(&server, &probe));
        while (!probe.started) {
            co_await yield_now();
        }
        co_await yield_now();  // the read is pending in libuv
        const std::uint64_t t0 = now();
        reader.cancel();
        std::string result = co_await reader;
        if (result != "Canceled") {
            std::fprintf(stderr, "S6: unexpected result %s\n", result.c_str());
            std::exit(1);
        }
        if (i >= warmup) {
            samples.push_back(probe.t_handler - t0);
        }
    }
    // The socket is still usable after every cancelled read: one byte written arrives.
    co_await client.write_all("x");
    std::array<char, 16> last{};
    const std::size_t n = co_await server.read_some(last);
    if (n != 1 || last[0] != 'x') {
        std::fprintf(stderr, "S6: the socket lost data after the cancelled reads\n");
        std::exit(1);
    }
    latency_metric("S6", std::move(samples));
}

// ---- S7: a to_thread job observing its stop token

struct PoolProbe {
    std::atomic<bool> started{false};
    std::atomic<std::uint64_t> t_seen{0};
    std::uint64_t t_handler = 0;
};

Task<std::string> pool_waiter(PoolProbe* probe) {
    auto job = [probe](std::stop_token stop) noexcept {
        probe->started.store(true, std::memory_order_release);
        while (!stop.stop_requested()) {
        }
        probe->t_seen.store(now(), std::memory_order_release);
    };
    try {
        co_await to_thread(std::move(job));
        co_await checkpoint();  // the job ended normally: the pending cancel is delivered here
        co_return "Done";
    } catch (const CancelledError&) {
        probe->t_handler = now();
        co_return "Canceled";
    }
}

Task<void> s7(int warmup, int reps) {
    std::vector<std::uint64_t> to_seen;
    std::vector<std::uint64_t> to_handler;
    for (int i = 0; i < warmup + reps; ++i) {
        PoolProbe probe;
        TaskHandle<std::string> waiter = spawn(pool_waiter(&probe));
        while (!probe.started.load(std::memory_order_acquire)) {
            co_await yield_now();
        }
        const std::uint64_t t0 = now();
        waiter.cancel();
        std::string result = co_await waiter;
        if (result != "Canceled") {
            std::fprintf(stderr, "S7: unexpected result %s\n", result.c_str());
            std::exit(1);
        }
        if (i >= warmup) {
            to_seen.push_back(probe.t_seen.load(std::memory_order_acquire) - t0);
            to_handler.push_back(probe.t_handler - t0);
        }
    }
    latency_metric("S7a", std::move(to_seen));
    latency_metric("S7b", std::move(to_handler));
}

// ---- S2 side check: while a task yields in a tight loop, is I/O still served promptly?
// Another thread cancels a sleeping task (a uv_async_t wake-up, i.e. I/O) at random moments
// while a third task spins on yield_now(); latency from cancel() to the handler.

Task<void> yield_spinner(const bool* stop) {
    while (!*stop) {
        co_await yield_now();
    }
}

Task<void> s2_wake_latency(int reps) {
    Remote remote;
    std::thread thread(remote_canceller, &remote);
    bool stop = false;
    TaskHandle<void> spinner = spawn(yield_spinner(&stop));
    std::vector<std::uint64_t> samples;
    for (int i = 0; i < reps; ++i) {
        Probe probe;
        remote.target = spawn(sleeping_worker(&probe));
        while (!probe.started) {
            co_await yield_now();
        }
        remote.go.store(1);
        remote.go.notify_one();
        std::string result = co_await remote.target;
        while (remote.go.load() != 0) {
            std::this_thread::yield();
        }
        samples.push_back(probe.t_handler - remote.t0);
        remote.target = {};
    }
    stop = true;
    co_await spinner;
    remote.go.store(2);
    remote.go.notify_one();
    thread.join();
    latency_metric("S2_wake_while_yielding", std::move(samples));
}

Task<void> all(Params p) {
    if (p.wants("S1")) {
        co_await s1(p.pick(500, 100), p.pick(10'000, 1'000));
    }
    if (p.wants("S2")) {
        co_await s2(p.pick(1'000'000, 100'000), p.pick(5, 3));
        co_await s2_wake_latency(p.pick(1'000, 200));
    }
    if (p.wants("S3")) {
        co_await s3(p.pick(10, 3), p.pick(200, 30), p.quick ? 10ms : 50ms);
    }
    if (p.wants("S4")) {
        co_await s4(100'000, "100k");
        if (!p.quick) {
            co_await s4(1'000'000, "1m");
        }
    }
    if (p.wants("S5")) {
        co_await s5(p.pick(100, 20), p.pick(2'000, 200));
    }
    if (p.wants("S6")) {
        co_await s6(p.pick(500, 100), p.pick(10'000, 1'000));
    }
    if (p.wants("S7")) {
        co_await s7(p.pick(100, 20), p.pick(2'000, 200));
    }
}

}  // namespace

int main(int argc, char** argv) {
    Params params;
    if (!bench::parse_params(argc, argv, params)) {
        return 2;
    }
    floor_throw_catch(10'000);
    if (params.wants("S3")) {
        floor_cold_throw_catch(params.pick(10, 3), params.pick(200, 30),
                               params.quick ? 10ms : 50ms);
    }
    if (params.wants("S5")) {
        floor_uv_async_wake(params.pick(100, 20), params.pick(2'000, 200));
    }
    run(all(params));
    bench::print_result();
    return 0;
}
