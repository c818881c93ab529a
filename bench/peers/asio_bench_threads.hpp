// Asio's side of the threads scenarios of bench/PROTOCOL.md (S8). Part of asio_bench.cpp, which
// includes it after its own helpers (Params, Metrics, JoinChannel, join, yield_now, now_ns): not
// a standalone header. Each scenario sets up its own io_contexts and threads.
//
// S8a/S8b: two io_context(1)s, A and B, each run by a thread of its own (a work guard keeps each
// running). The canceller is a coroutine co_spawned on B; each rep it co_spawns the sleeping task
// on A's executor with `bind_cancellation_slot(signal.slot(), bind_executor(B, handler))`: the
// task runs on A, its completion handler on B, where it completes the join channel. A
// cancellation_signal is not thread-safe, so the cancel is `asio::post(A, [&]{ signal.emit(
// terminal); })`, and the canceller awaits the channel (the cross-context join).
// S8_post_*: a running io_context(1) (a work guard, one thread in run()); a foreign thread
// `asio::post(ctx, f)`s. The round trip's foreign thread blocks on a futex (std::atomic::wait)
// until f has set the flag and woken it.
#pragma once

struct CrossRec {
  std::atomic<bool> started{false};  // written on A, read on B
  std::atomic<int64_t> t_handler{0};
  std::string result;
};

template <bool EC>
static awaitable<std::string> cross_sleeper(CrossRec& rec) {
  asio::steady_timer timer(co_await this_coro::executor, 10s);
  rec.started.store(true, std::memory_order_release);
  if constexpr (EC) {
    auto [ec] = co_await timer.async_wait(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted) {
      rec.t_handler.store(now_ns(), std::memory_order_release);
      co_return "Canceled";
    }
  } else {
    try {
      co_await timer.async_wait(use_awaitable);
    } catch (const asio::system_error& e) {
      if (e.code() != asio::error::operation_aborted) throw;
      rec.t_handler.store(now_ns(), std::memory_order_release);
      co_return "Canceled";
    }
  }
  co_return "Finished";
}

template <bool EC>
static awaitable<void> s8_canceller(const Params& p, Metrics& m, asio::io_context& a) {
  auto ex = co_await this_coro::executor;  // B's
  JoinChannel done(ex, 1);
  std::vector<int64_t> to_handler, to_join;
  for (int i = 0; i < p.s1_warmup + p.s1_reps; ++i) {
    CrossRec rec;
    asio::cancellation_signal sig;  // emitted on A only
    asio::co_spawn(a.get_executor(), cross_sleeper<EC>(rec),
                   asio::bind_cancellation_slot(
                       sig.slot(), asio::bind_executor(ex, [&done](std::exception_ptr e, std::string r) {
                         if (e) std::rethrow_exception(e);
                         done.try_send(asio::error_code{}, std::move(r));
                       })));
    while (!rec.started.load(std::memory_order_acquire)) co_await yield_now<EC>(ex);
    const int64_t t0 = now_ns();
    asio::post(a, [&sig] { sig.emit(asio::cancellation_type::terminal); });
    rec.result = co_await join<EC>(done);
    const int64_t t_join = now_ns();
    if (rec.result != "Canceled") throw std::runtime_error("S8: " + rec.result);
    if (i >= p.s1_warmup) {
      to_handler.push_back(rec.t_handler.load(std::memory_order_acquire) - t0);
      to_join.push_back(t_join - t0);
    }
  }
  m.latency("S8a", to_handler);
  m.latency("S8b", to_join);
}

// An io_context(1) run by a thread of its own until stop().
struct RunningContext {
  asio::io_context ctx{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{ctx.get_executor()};
  std::thread th{[this] { ctx.run(); }};
  void stop() {
    guard.reset();
    th.join();
  }
};

template <bool EC>
static void s8_cancel(const Params& p, Metrics& m) {
  RunningContext a, b;
  std::atomic<int> finished{0};
  std::exception_ptr failure;
  asio::co_spawn(b.ctx, s8_canceller<EC>(p, m, a.ctx), [&](std::exception_ptr e) {
    failure = e;
    finished.store(1, std::memory_order_release);
    finished.notify_one();
  });
  finished.wait(0, std::memory_order_acquire);
  a.stop();
  b.stop();
  if (failure) std::rethrow_exception(failure);
}

static void post_rtt(const Params& p, Metrics& m, asio::io_context& ctx) {
  std::vector<int64_t> samples;
  std::atomic<uint32_t> done{0};
  for (int i = 0; i < p.s1_warmup + p.s1_reps; ++i) {
    done.store(0, std::memory_order_relaxed);
    const int64_t t0 = now_ns();
    asio::post(ctx, [&done] {
      done.store(1, std::memory_order_release);  // pairs with the acquire of wait below
      done.notify_one();
    });
    done.wait(0, std::memory_order_acquire);
    const int64_t t1 = now_ns();
    if (i >= p.s1_warmup) samples.push_back(t1 - t0);
  }
  m.latency("S8_post_rtt", samples);
}

struct Delivery {
  uint64_t delivered = 0;  // the io_context's thread only
  uint64_t total = 0;
  std::atomic<int64_t> t_end{0};
  std::atomic<uint32_t> done{0};
};

static void post_throughput(asio::io_context& ctx, int threads, uint64_t per_thread,
                            const char* name, Metrics& m) {
  Delivery d;
  d.total = per_thread * static_cast<uint64_t>(threads);
  std::atomic<bool> go{false};
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t) {
    posters.emplace_back([&ctx, &go, &d, per_thread] {
      go.wait(false, std::memory_order_acquire);
      Delivery* dp = &d;
      for (uint64_t i = 0; i < per_thread; ++i) {
        asio::post(ctx, [dp] {
          if (++dp->delivered == dp->total) {
            dp->t_end.store(now_ns(), std::memory_order_relaxed);
            dp->done.store(1, std::memory_order_release);  // publishes t_end
            dp->done.notify_one();
          }
        });
      }
    });
  }
  std::this_thread::sleep_for(10ms);  // the posters are waiting for `go`
  const int64_t t0 = now_ns();
  go.store(true, std::memory_order_release);
  go.notify_all();
  d.done.wait(0, std::memory_order_acquire);
  for (auto& poster : posters) poster.join();
  const auto elapsed = static_cast<double>(d.t_end.load(std::memory_order_relaxed) - t0);
  m.scalar(name, "posts/s", static_cast<double>(d.total) / (elapsed / 1e9));
}

template <bool EC>
static void s8(const Params& p, Metrics& m) {
  s8_cancel<EC>(p, m);
  RunningContext running;
  post_rtt(p, m, running.ctx);
  const uint64_t per_thread = p.quick ? 100000 : 1000000;
  post_throughput(running.ctx, 1, per_thread, "S8_post_1thread", m);
  post_throughput(running.ctx, 2, per_thread, "S8_post_2threads", m);
  running.stop();
}
