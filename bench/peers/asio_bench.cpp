// Asio (standalone, C++20 coroutines) peer for bench/PROTOCOL.md (scenarios S1..S8).
//
//     g++ -std=c++20 -O2 -pthread bench/peers/asio_bench.cpp -o bench/out/asio_bench
//     bench/out/asio_bench --variant exc|ec [--quick] [--only S1,S2]
//
// Prints one JSON object on stdout (runtime "asio-exc" or "asio-ec"); diagnostics go to stderr.
// Idioms: a task is `asio::co_spawn(executor, coro(), asio::bind_cancellation_slot(
// signal.slot(), completion_handler))`; cancel = `signal.emit(asio::cancellation_type::terminal)`;
// join = the completion handler completes a one-slot `asio::experimental::channel` that the
// canceller co_awaits. The sleep is a `steady_timer::async_wait`.
//   asio-exc: `co_await timer.async_wait(use_awaitable)` throws `asio::system_error`
//             (operation_aborted); the handler is a `catch`.
//   asio-ec:  `auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable))`; the handler is an
//             `if (ec == asio::error::operation_aborted)` branch.
// yield = `co_await asio::post(executor, use_awaitable)` (ec: `as_tuple(use_awaitable)`).
// S5: a second std::thread does `asio::post(io_context, [&]{ signal.emit(terminal); })`.
// S6: the task's read is `co_await socket.async_read_some(asio::buffer(buf), use_awaitable)` on
// the accepted side of a loopback `ip::tcp` connection (Asio's reactive sockets support
// per-operation terminal/partial/total cancellation: only that read is aborted, the socket stays
// usable, which the scenario checks at the end).
// S7: the job runs on an `asio::thread_pool` through a small asynchronous operation
// (`async_run_on_pool`, an `async_initiate` initiation): it posts the job to the pool, installs a
// handler on the operation's associated cancellation slot that requests a `std::stop_source`
// (the job polls the `std::stop_token`), and completes on the caller's executor once the job has
// returned - with `operation_aborted` if a stop was requested. The task co_awaits it like any other
// operation, so its handler (catch / `if`) necessarily runs after the job has returned.
// S8 (two io_contexts on two threads; asio::post from foreign threads): asio_bench_threads.hpp.
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/channel.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using asio::awaitable;
using asio::use_awaitable;
using asio::experimental::as_tuple;
namespace this_coro = asio::this_coro;
using namespace std::chrono_literals;

static inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---------------------------------------------------------------------------------------------
// Parameters and output

struct Params {
  bool quick = false;
  int s1_warmup = 500, s1_reps = 10000;
  long s2_yields = 1000000;
  int s2_runs = 5;
  int s3_warmup = 10, s3_reps = 200;
  std::chrono::milliseconds s3_delay{50};
  int64_t s3_spin_ns = 10000;
  std::vector<std::pair<std::string, long>> s4_sizes{{"100k", 100000}, {"1m", 1000000}};
  int s5_warmup = 100, s5_reps = 2000;
  int s6_warmup = 500, s6_reps = 10000;
  int s7_warmup = 100, s7_reps = 2000;
  void set_quick() {
    quick = true;
    s1_warmup = 100; s1_reps = 1000;
    s2_yields = 100000; s2_runs = 3;
    s3_warmup = 3; s3_reps = 30; s3_delay = 10ms;
    s4_sizes = {{"100k", 100000}};
    s5_warmup = 20; s5_reps = 200;
    s6_warmup = 100; s6_reps = 1000;
    s7_warmup = 20; s7_reps = 200;
  }
};

struct Metrics {
  std::vector<std::string> items;  // "\"name\":{...}"

  void latency(const std::string& name, const std::vector<int64_t>& samples) {
    std::vector<int64_t> s = samples;
    std::sort(s.begin(), s.end());
    size_t n = s.size();
    auto q = [&](double p) {
      long k = static_cast<long>(std::ceil(p * static_cast<double>(n))) - 1;
      if (k < 0) k = 0;
      return s[std::min<size_t>(n - 1, static_cast<size_t>(k))];
    };
    std::ostringstream o;
    o << '"' << name << "\":{\"unit\":\"ns\",\"n\":" << n << ",\"p50\":" << q(0.5)
      << ",\"p90\":" << q(0.9) << ",\"p99\":" << q(0.99) << ",\"p999\":" << q(0.999)
      << ",\"max\":" << s[n - 1] << ",\"samples\":[";
    for (size_t i = 0; i < samples.size(); ++i) o << (i ? "," : "") << samples[i];
    o << "]}";
    items.push_back(o.str());
  }
  void per_op(const std::string& name, const std::vector<double>& runs) {
    std::vector<double> r = runs;
    std::sort(r.begin(), r.end());
    std::ostringstream o;
    o.precision(6);
    o << std::fixed << '"' << name << "\":{\"unit\":\"ns/op\",\"value\":" << r[(r.size() - 1) / 2]
      << ",\"runs\":[";
    for (size_t i = 0; i < runs.size(); ++i) o << (i ? "," : "") << runs[i];
    o << "]}";
    items.push_back(o.str());
  }
  void scalar(const std::string& name, const char* unit, double v) {
    std::ostringstream o;
    o.precision(3);
    o << std::fixed << '"' << name << "\":{\"unit\":\"" << unit << "\",\"value\":" << v << "}";
    items.push_back(o.str());
  }
};

static long rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

static void spin_for(int64_t ns) {
  const int64_t end = now_ns() + ns;
  while (now_ns() < end) {
  }
}

// Join: the co_spawn completion handler try_send()s the task's result into a one-slot channel
// that the canceller co_awaits. (Asio 1.22's channel<void(error_code)> does not compile - an
// ambiguous channel_traits specialisation - so the payload carries the result string.)
using JoinChannel = asio::experimental::channel<void(asio::error_code, std::string)>;

template <bool EC>
static awaitable<std::string> join(JoinChannel& ch) {
  if constexpr (EC) {
    auto [ec, r] = co_await ch.async_receive(as_tuple(use_awaitable));
    (void)ec;
    co_return r;
  } else {
    co_return co_await ch.async_receive(use_awaitable);
  }
}

template <bool EC>
static awaitable<void> yield_now(const asio::any_io_executor& ex) {
  if constexpr (EC) {
    co_await asio::post(ex, as_tuple(use_awaitable));
  } else {
    co_await asio::post(ex, use_awaitable);
  }
}

// ---------------------------------------------------------------------------------------------
// S1 / S5 worker: the seed article's worker (sleeps 10 s, catches the cancellation, returns).

struct Rec {
  bool started = false;
  int64_t t_handler = 0;
  std::string result;
};

template <bool EC>
static awaitable<std::string> sleeper_worker(Rec& rec) {
  asio::steady_timer timer(co_await this_coro::executor, 10s);
  rec.started = true;
  if constexpr (EC) {
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) {
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
  } else {
    try {
      co_await timer.async_wait(use_awaitable);
    } catch (const asio::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
  }
  co_return "Finished";
}

// Spawns `worker` with its cancellation slot bound to `sig`; its result string is sent to
// `done` (Asio has no join on a spawned coroutine).
static void spawn_joinable(const asio::any_io_executor& ex, awaitable<std::string> worker,
                           asio::cancellation_signal& sig, JoinChannel& done) {
  asio::co_spawn(ex, std::move(worker),
                 asio::bind_cancellation_slot(
                     sig.slot(), [&done](std::exception_ptr e, std::string r) {
                       if (e) std::rethrow_exception(e);
                       done.try_send(asio::error_code{}, std::move(r));
                     }));
}

template <bool EC>
static void spawn_sleeper(const asio::any_io_executor& ex, Rec& rec, asio::cancellation_signal& sig,
                          JoinChannel& done) {
  spawn_joinable(ex, sleeper_worker<EC>(rec), sig, done);
}

template <bool EC>
static awaitable<void> s1(const Params& p, Metrics& m) {
  auto ex = co_await this_coro::executor;
  JoinChannel done(ex, 1);
  std::vector<int64_t> a, b;
  a.reserve(p.s1_reps);
  b.reserve(p.s1_reps);
  for (int i = 0; i < p.s1_warmup + p.s1_reps; ++i) {
    Rec rec;
    asio::cancellation_signal sig;
    spawn_sleeper<EC>(ex, rec, sig, done);
    while (!rec.started) co_await yield_now<EC>(ex);
    const int64_t t0 = now_ns();
    sig.emit(asio::cancellation_type::terminal);
    rec.result = co_await join<EC>(done);
    const int64_t t_join = now_ns();
    if (rec.result != "Canceled") throw std::runtime_error("S1: " + rec.result);
    if (i >= p.s1_warmup) {
      a.push_back(rec.t_handler - t0);
      b.push_back(t_join - t0);
    }
  }
  m.latency("S1a", a);
  m.latency("S1b", b);
}

// ---------------------------------------------------------------------------------------------
// S2

template <bool EC>
static awaitable<void> s2(const Params& p, Metrics& m) {
  auto ex = co_await this_coro::executor;
  std::vector<double> runs;
  for (int r = 0; r < p.s2_runs; ++r) {
    const int64_t t0 = now_ns();
    for (long i = 0; i < p.s2_yields; ++i) {
      if constexpr (EC) {
        co_await asio::post(ex, as_tuple(use_awaitable));
      } else {
        co_await asio::post(ex, use_awaitable);
      }
    }
    runs.push_back(static_cast<double>(now_ns() - t0) / static_cast<double>(p.s2_yields));
  }
  m.per_op("S2_yield", runs);
  // Asio has no cheap cancellation check distinct from a yield: S2_checkpoint absent.
}

// ---------------------------------------------------------------------------------------------
// S3: CPU-bound task yielding every ~10 us, cancelled by a timer.
// A post() is not itself cancellable; Asio's own rule (throw_if_cancelled) would throw at the
// task's *next* co_await, i.e. after one more 10 us spin. To deliver at the resume point like
// every other runtime, the task reads its cancellation state right after each yield:
// asio-exc throws what Asio itself throws there (system_error operation_aborted),
// asio-ec takes an `if` branch.

template <bool EC>
static awaitable<std::string> cpu_worker(Rec& rec, int64_t spin_ns) {
  auto ex = co_await this_coro::executor;
  if constexpr (EC) {
    co_await this_coro::throw_if_cancelled(false);
    for (;;) {
      spin_for(spin_ns);
      co_await asio::post(ex, as_tuple(use_awaitable));
      auto cs = co_await this_coro::cancellation_state;
      if (cs.cancelled() != asio::cancellation_type::none) {
        rec.t_handler = now_ns();
        co_return "Canceled";
      }
    }
  } else {
    try {
      for (;;) {
        spin_for(spin_ns);
        co_await asio::post(ex, use_awaitable);
        auto cs = co_await this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none)
          asio::detail::throw_error(asio::error::operation_aborted, "co_await");
      }
    } catch (const asio::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
  }
}

template <bool EC>
static awaitable<void> s3(const Params& p, Metrics& m) {
  auto ex = co_await this_coro::executor;
  JoinChannel done(ex, 1);
  asio::steady_timer timer(ex);
  std::vector<int64_t> samples;
  for (int i = 0; i < p.s3_warmup + p.s3_reps; ++i) {
    Rec rec;
    asio::cancellation_signal sig;
    asio::co_spawn(ex, cpu_worker<EC>(rec, p.s3_spin_ns),
                   asio::bind_cancellation_slot(
                       sig.slot(), [&done](std::exception_ptr e, std::string r) {
                         if (e) std::rethrow_exception(e);
                         done.try_send(asio::error_code{}, std::move(r));
                       }));
    timer.expires_after(p.s3_delay);
    if constexpr (EC) {
      auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
      (void)ec;
    } else {
      co_await timer.async_wait(use_awaitable);
    }
    const int64_t t0 = now_ns();
    sig.emit(asio::cancellation_type::terminal);
    rec.result = co_await join<EC>(done);
    if (rec.result != "Canceled") throw std::runtime_error("S3: " + rec.result);
    if (i >= p.s3_warmup) samples.push_back(rec.t_handler - t0);
  }
  m.latency("S3", samples);
}

// ---------------------------------------------------------------------------------------------
// S4: N sleeping tasks.

template <bool EC>
static awaitable<void> s4_sleeper(long& started) {
  asio::steady_timer timer(co_await this_coro::executor, 60s);
  ++started;
  if constexpr (EC) {
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    (void)ec;  // the handler just returns
  } else {
    try {
      co_await timer.async_wait(use_awaitable);
    } catch (const asio::system_error&) {
      co_return;  // the handler just returns
    }
  }
}

template <bool EC>
static awaitable<void> s4(const Params& p, Metrics& m) {
  auto ex = co_await this_coro::executor;
  for (const auto& [label, n] : p.s4_sizes) {
    JoinChannel done(ex, 1);
    long started = 0, remaining = n;
    const long rss0 = rss_bytes();
    const int64_t t0 = now_ns();
    auto sigs = std::make_unique<asio::cancellation_signal[]>(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
      asio::co_spawn(ex, s4_sleeper<EC>(started),
                     asio::bind_cancellation_slot(sigs[i].slot(),
                                                  [&remaining, &done](std::exception_ptr e) {
                                                    if (e) std::rethrow_exception(e);
                                                    if (--remaining == 0)
                                                      done.try_send(asio::error_code{}, std::string());
                                                  }));
    }
    while (started < n) co_await yield_now<EC>(ex);
    const int64_t t1 = now_ns();
    const long rss1 = rss_bytes();
    const int64_t t2 = now_ns();
    for (long i = 0; i < n; ++i) sigs[i].emit(asio::cancellation_type::terminal);
    co_await join<EC>(done);
    const int64_t t3 = now_ns();
    const double nn = static_cast<double>(n);
    m.scalar("S4_" + label + "_spawn", "ns/task", static_cast<double>(t1 - t0) / nn);
    m.scalar("S4_" + label + "_bytes", "bytes/task", static_cast<double>(rss1 - rss0) / nn);
    m.scalar("S4_" + label + "_cancel_join", "ns", static_cast<double>(t3 - t2));
    m.scalar("S4_" + label + "_cancels_per_s", "1/s", nn / (static_cast<double>(t3 - t2) / 1e9));
    std::fprintf(stderr, "S4 %s: spawn %.0f ns/task, %.0f B/task, cancel+join %.1f ms\n",
                 label.c_str(), static_cast<double>(t1 - t0) / nn,
                 static_cast<double>(rss1 - rss0) / nn, static_cast<double>(t3 - t2) / 1e6);
    sigs.reset();
  }
}

// ---------------------------------------------------------------------------------------------
// S5: cancel from another OS thread (created once, reused).

struct CancellerThread {
  asio::io_context& ctx;
  std::mutex mu;
  std::condition_variable cv;
  asio::cancellation_signal* sig = nullptr;  // set by the loop thread: "go"
  bool stop = false;
  int64_t t0 = 0;
  std::thread th;

  explicit CancellerThread(asio::io_context& c) : ctx(c), th([this] { loop(); }) {}
  ~CancellerThread() {
    {
      std::lock_guard lk(mu);
      stop = true;
    }
    cv.notify_one();
    th.join();
  }
  void go(asio::cancellation_signal* s) {
    {
      std::lock_guard lk(mu);
      sig = s;
    }
    cv.notify_one();
  }
  void loop() {
    for (;;) {
      asio::cancellation_signal* s;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [this] { return stop || sig != nullptr; });
        if (stop) return;
        s = std::exchange(sig, nullptr);
      }
      t0 = now_ns();
      asio::post(ctx, [s] { s->emit(asio::cancellation_type::terminal); });
    }
  }
};

template <bool EC>
static awaitable<void> s5(const Params& p, Metrics& m, asio::io_context& ctx) {
  auto ex = co_await this_coro::executor;
  JoinChannel done(ex, 1);
  CancellerThread canceller(ctx);
  std::vector<int64_t> samples;
  for (int i = 0; i < p.s5_warmup + p.s5_reps; ++i) {
    Rec rec;
    asio::cancellation_signal sig;
    spawn_sleeper<EC>(ex, rec, sig, done);
    while (!rec.started) co_await yield_now<EC>(ex);
    canceller.go(&sig);  // tell the thread to go (not measured)
    rec.result = co_await join<EC>(done);
    if (rec.result != "Canceled") throw std::runtime_error("S5: " + rec.result);
    if (i >= p.s5_warmup) samples.push_back(rec.t_handler - canceller.t0);
  }
  m.latency("S5", samples);
}

// ---------------------------------------------------------------------------------------------
// S6: cancel a task blocked on a loopback TCP read (async_read_some on the accepted socket).

struct ReadRec {
  bool started = false;
  int64_t t_handler = 0;
  size_t n = 0;
  char first = 0;
  std::string result;
};

template <bool EC>
static awaitable<std::string> reader_worker(ReadRec& rec, asio::ip::tcp::socket& sock) {
  std::array<char, 4096> buf;
  rec.started = true;
  if constexpr (EC) {
    auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) {
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
    if (ec) co_return "Error: " + ec.message();
    rec.n = n;
  } else {
    try {
      rec.n = co_await sock.async_read_some(asio::buffer(buf), use_awaitable);
    } catch (const asio::system_error& e) {
      if (e.code() != asio::error::operation_aborted) co_return "Error: " + e.code().message();
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
  }
  if (rec.n > 0) rec.first = buf[0];
  co_return "Read";
}

template <bool EC>
static void spawn_reader(const asio::any_io_executor& ex, ReadRec& rec, asio::ip::tcp::socket& sock,
                         asio::cancellation_signal& sig, JoinChannel& done) {
  spawn_joinable(ex, reader_worker<EC>(rec, sock), sig, done);
}

template <bool EC>
static awaitable<void> s6(const Params& p, Metrics& m) {
  auto ex = co_await this_coro::executor;
  JoinChannel done(ex, 1);
  // Set-up (once): listener on 127.0.0.1:0, one client connection, the server side accepted.
  asio::ip::tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
  asio::ip::tcp::socket client(ex);
  client.connect(acceptor.local_endpoint());
  asio::ip::tcp::socket server = acceptor.accept();
  std::vector<int64_t> samples;
  samples.reserve(p.s6_reps);
  for (int i = 0; i < p.s6_warmup + p.s6_reps; ++i) {
    ReadRec rec;
    asio::cancellation_signal sig;
    spawn_reader<EC>(ex, rec, server, sig, done);
    while (!rec.started) co_await yield_now<EC>(ex);
    co_await yield_now<EC>(ex);  // once more: the read is really pending
    const int64_t t0 = now_ns();
    sig.emit(asio::cancellation_type::terminal);
    rec.result = co_await join<EC>(done);
    if (rec.result != "Canceled") throw std::runtime_error("S6 rep " + std::to_string(i) + ": " + rec.result);
    if (i >= p.s6_warmup) samples.push_back(rec.t_handler - t0);
  }
  // The socket must still work: the client writes one byte, a last read returns it (bounded by
  // a 5 s timer that cancels the read, so a lost socket fails instead of hanging).
  const char byte = 'x';
  asio::write(client, asio::buffer(&byte, 1));
  ReadRec last;
  asio::cancellation_signal sig;
  spawn_reader<EC>(ex, last, server, sig, done);
  asio::steady_timer guard(ex, 5s);
  guard.async_wait([&sig](asio::error_code ec) {
    if (!ec) sig.emit(asio::cancellation_type::terminal);
  });
  last.result = co_await join<EC>(done);
  guard.cancel();
  if (last.result != "Read" || last.n != 1 || last.first != byte) {
    std::fprintf(stderr,
                 "S6: FAILED: the socket is not usable after %d cancelled reads: the last read "
                 "gave %s (%zu bytes)%s\n",
                 p.s6_warmup + p.s6_reps, last.result.c_str(), last.n,
                 last.result == "Canceled" ? " - nothing arrived within 5 s" : "");
    std::exit(1);
  }
  m.latency("S6", samples);
}

// ---------------------------------------------------------------------------------------------
// S7: a thread-pool job observing its cancellation.
//
// async_run_on_pool(pool, job, token): an asynchronous operation with signature
// void(error_code). It posts job(std::stop_token) to the thread pool; a terminal/partial
// cancellation of the operation (a handler installed on its associated cancellation slot)
// requests the stop; once the job has returned, the operation completes on the handler's own
// executor (the io_context: an outstanding-work-tracked executor keeps it alive meanwhile) with
// operation_aborted if a stop was requested, success otherwise. Never completes before the job
// has returned, so the awaiting task cannot leave an orphan job behind.

struct initiate_run_on_pool {
  template <typename Handler, typename Job>
  void operator()(Handler handler, asio::thread_pool* pool, Job job) const {
    auto stop = std::make_shared<std::stop_source>();
    auto slot = asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) {
      slot.assign([stop](asio::cancellation_type type) {
        if (!!(type & (asio::cancellation_type::terminal | asio::cancellation_type::partial)))
          stop->request_stop();
      });
    }
    auto work = asio::prefer(asio::get_associated_executor(handler),
                             asio::execution::outstanding_work.tracked);
    asio::post(*pool, [handler = std::move(handler), job = std::move(job), stop = std::move(stop),
                       work = std::move(work)]() mutable {
      job(stop->get_token());
      asio::error_code ec;
      if (stop->stop_requested()) ec = asio::error::operation_aborted;
      asio::dispatch(work, [handler = std::move(handler), ec]() mutable { std::move(handler)(ec); });
    });
  }
};

template <typename Job, typename CompletionToken>
static auto async_run_on_pool(asio::thread_pool& pool, Job&& job, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(asio::error_code)>(
      initiate_run_on_pool{}, token, &pool, std::forward<Job>(job));
}

struct PoolRec {
  std::atomic<bool> started{false};
  std::atomic<int64_t> t_seen{0};
  int64_t t_handler = 0;
  std::string result;
};

template <bool EC>
static awaitable<std::string> pool_worker(PoolRec& rec, asio::thread_pool& pool) {
  auto job = [&rec](std::stop_token st) {
    rec.started.store(true, std::memory_order_release);
    while (!st.stop_requested()) {
    }
    rec.t_seen.store(now_ns(), std::memory_order_release);
  };
  if constexpr (EC) {
    auto [ec] = co_await async_run_on_pool(pool, job, as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) {
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
  } else {
    try {
      co_await async_run_on_pool(pool, job, use_awaitable);
    } catch (const asio::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      rec.t_handler = now_ns();
      co_return "Canceled";
    }
  }
  co_return "Finished";
}

template <bool EC>
static awaitable<void> s7(const Params& p, Metrics& m) {
  auto ex = co_await this_coro::executor;
  JoinChannel done(ex, 1);
  asio::thread_pool pool;  // the default pool (2 x hardware threads)
  std::vector<int64_t> a, b;
  for (int i = 0; i < p.s7_warmup + p.s7_reps; ++i) {
    PoolRec rec;
    asio::cancellation_signal sig;
    asio::co_spawn(ex, pool_worker<EC>(rec, pool),
                   asio::bind_cancellation_slot(
                       sig.slot(), [&done](std::exception_ptr e, std::string r) {
                         if (e) std::rethrow_exception(e);
                         done.try_send(asio::error_code{}, std::move(r));
                       }));
    while (!rec.started.load(std::memory_order_acquire)) co_await yield_now<EC>(ex);
    const int64_t t0 = now_ns();
    sig.emit(asio::cancellation_type::terminal);
    rec.result = co_await join<EC>(done);
    if (rec.result != "Canceled") throw std::runtime_error("S7: " + rec.result);
    const int64_t t_seen = rec.t_seen.load(std::memory_order_acquire);
    if (t_seen == 0 || t_seen > rec.t_handler)
      throw std::runtime_error("S7: the task's handler ran before the job returned");
    if (i >= p.s7_warmup) {
      a.push_back(t_seen - t0);
      b.push_back(rec.t_handler - t0);
    }
  }
  pool.join();
  m.latency("S7a", a);
  m.latency("S7b", b);
}

// ---------------------------------------------------------------------------------------------
// S8: threads (its own io_contexts and threads; run after the others, outside `ctx`).

#include "asio_bench_threads.hpp"

// ---------------------------------------------------------------------------------------------

template <bool EC>
static awaitable<void> run_all(const Params& p, const std::set<std::string>& only, Metrics& m,
                               asio::io_context& ctx) {
  auto timed = [](const char* name, int64_t t) {
    std::fprintf(stderr, "%s done in %.1f s\n", name, static_cast<double>(now_ns() - t) / 1e9);
  };
  int64_t t;
  if (only.count("S1")) { t = now_ns(); co_await s1<EC>(p, m); timed("S1", t); }
  if (only.count("S2")) { t = now_ns(); co_await s2<EC>(p, m); timed("S2", t); }
  if (only.count("S3")) { t = now_ns(); co_await s3<EC>(p, m); timed("S3", t); }
  if (only.count("S4")) { t = now_ns(); co_await s4<EC>(p, m); timed("S4", t); }
  if (only.count("S5")) { t = now_ns(); co_await s5<EC>(p, m, ctx); timed("S5", t); }
  if (only.count("S6")) { t = now_ns(); co_await s6<EC>(p, m); timed("S6", t); }
  if (only.count("S7")) { t = now_ns(); co_await s7<EC>(p, m); timed("S7", t); }
}

int main(int argc, char** argv) {
  Params p;
  std::string variant = "exc";
  std::set<std::string> only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string val;
    if (a == "--quick") {
      p.set_quick();
      continue;
    }
    if ((a == "--only" || a == "--variant") && i + 1 < argc) {
      val = argv[++i];
    } else if (a.rfind("--only=", 0) == 0 || a.rfind("--variant=", 0) == 0) {
      val = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
    } else {
      std::fprintf(stderr, "usage: %s --variant exc|ec [--quick] [--only S1,S2,...]\n", argv[0]);
      return 2;
    }
    if (a == "--variant") {
      variant = val;
    } else {
      std::stringstream ss(val);
      std::string item;
      while (std::getline(ss, item, ','))
        if (!item.empty()) {
          for (auto& c : item) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          only.insert(item);
        }
    }
  }
  if (variant != "exc" && variant != "ec") {
    std::fprintf(stderr, "--variant must be exc or ec\n");
    return 2;
  }
  if (only.empty()) only = {"S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8"};

  asio::io_context ctx(1);  // single-threaded io_context (concurrency hint 1)
  Metrics m;
  std::exception_ptr failure;
  auto on_done = [&failure](std::exception_ptr e) { failure = e; };
  if (variant == "ec")
    asio::co_spawn(ctx, run_all<true>(p, only, m, ctx), on_done);
  else
    asio::co_spawn(ctx, run_all<false>(p, only, m, ctx), on_done);
  ctx.run();
  if (failure) std::rethrow_exception(failure);
  if (only.count("S8")) {
    const int64_t t = now_ns();
    if (variant == "ec")
      s8<true>(p, m);
    else
      s8<false>(p, m);
    std::fprintf(stderr, "S8 done in %.1f s\n", static_cast<double>(now_ns() - t) / 1e9);
  }

  std::printf("{\"runtime\":\"asio-%s\",\"version\":\"asio %d.%d.%d (g++ %s, -O2)\",\"skipped\":null,"
              "\"metrics\":{",
              variant.c_str(), ASIO_VERSION / 100000, ASIO_VERSION / 100 % 1000, ASIO_VERSION % 100,
              __VERSION__);
  for (size_t i = 0; i < m.items.size(); ++i) std::printf("%s%s", i ? "," : "", m.items[i].c_str());
  std::printf("}}\n");
  return 0;
}
