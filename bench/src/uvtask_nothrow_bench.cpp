// The `uvtask-nothrow` row of the cancellation-latency benchmark: S1, S3, S4 (cancel all and
// join), S6 and S7 of bench/PROTOCOL.md with the same parameters as uvtask_bench.cpp, written in
// the zero-exception idiom (docs/zero-exception.md): each task awaits through `nothrow()` and
// receives its cancellation as an `Outcome` instead of a `CancelledError` — as Asio's
// `error_code` form is measured beside its exception form. Prints one JSON object (runtime
// "uvtask-nothrow") on stdout.
#include <uvtask/uvtask.hpp>

#include "bench_json.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

using namespace uvtask;
using namespace std::chrono_literals;

namespace {

using bench::latency_metric;
using bench::now;
using bench::Params;
using bench::scalar_metric;

struct Probe {
    bool started = false;
    std::uint64_t t_handler = 0;
};

// ---- S1: cancel a task sleeping 10 s on the same loop

Task<std::string> sleeping_worker(Probe* probe) {
    probe->started = true;
    Outcome<void> slept = co_await nothrow(sleep(10s));
    if (slept.is_cancelled()) {
        probe->t_handler = now();
        co_return "Canceled";
    }
    co_return "Done";
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
        Outcome<std::string> result = co_await nothrow(worker);
        const std::uint64_t t_join = now();
        if (!result || result.value() != "Canceled") {
            std::fprintf(stderr, "S1: the worker did not end with \"Canceled\"\n");
            std::exit(1);
        }
        if (i >= warmup) {
            to_handler.push_back(probe.t_handler - t0);
            to_join.push_back(t_join - t0);
        }
    }
    latency_metric("S1a", std::move(to_handler));
    latency_metric("S1b", std::move(to_join));
}

// ---- S3: CPU-bound task yielding every ~10 µs, cancelled by a timer

Task<void> cpu_bound_worker(Probe* probe) {
    probe->started = true;
    for (;;) {
        const std::uint64_t until = now() + 10'000;
        while (now() < until) {
        }
        Outcome<void> yielded = co_await nothrow(yield_now());
        if (yielded.is_cancelled()) {
            probe->t_handler = now();
            co_return;
        }
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
        Outcome<void> joined = co_await nothrow(worker);
        (void)joined;
        if (i >= warmup) {
            samples.push_back(probe.t_handler - t0);
        }
    }
    latency_metric("S3", std::move(samples));
}

// ---- S4: many sleeping tasks, cancel all and join

Task<void> long_sleeper(std::size_t* started) {
    ++*started;
    Outcome<void> slept = co_await nothrow(sleep(60s));
    (void)slept;  // cancelled: the handler just returns
}

Task<void> s4(std::size_t count, const std::string& label) {
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
    const std::uint64_t t2 = now();
    for (auto& task : tasks) {
        task.cancel();
    }
    for (auto& task : tasks) {
        Outcome<void> joined = co_await nothrow(task);
        (void)joined;
    }
    const std::uint64_t t3 = now();
    const auto n = static_cast<double>(count);
    scalar_metric("S4_" + label + "_spawn", "ns/task", static_cast<double>(t1 - t0) / n);
    scalar_metric("S4_" + label + "_cancel_join", "ns", static_cast<double>(t3 - t2));
    scalar_metric("S4_" + label + "_cancels_per_s", "1/s",
                  n / (static_cast<double>(t3 - t2) / 1e9));
}

// ---- S6: cancel a task blocked on a loopback TCP read

Task<std::string> blocked_reader(TcpStream* stream, Probe* probe) {
    probe->started = true;
    std::array<char, 4096> buffer{};
    Outcome<std::size_t> read = co_await nothrow(stream->read_some(buffer));
    if (read.is_cancelled()) {
        probe->t_handler = now();
        co_return "Canceled";
    }
    co_return read&& read.value() == 0 ? "EOF" : "Data";
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
    Outcome<void> worked = co_await nothrow(to_thread(std::move(job)));
    if (worked) {
        // The job ended normally: the pending cancel is delivered here.
        Outcome<void> pending = co_await nothrow(checkpoint());
        worked = std::move(pending);
    }
    if (worked.is_cancelled()) {
        probe->t_handler = now();
        co_return "Canceled";
    }
    co_return "Done";
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

Task<void> all(Params p) {
    if (p.wants("S1")) {
        co_await s1(p.pick(500, 100), p.pick(10'000, 1'000));
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
    run(all(params));
    bench::print_result("uvtask-nothrow");
    return 0;
}
