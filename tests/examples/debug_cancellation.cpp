// Debugging cancellation (README, "Debugging cancellation"): the task dump, the slow-step report,
// the swallowed-cancel report and the cancel-latency statistics of a small program.
//
// stderr gets the real diagnostics (ages, durations: they change from run to run); stdout gets
// what is stable (the example's .expected file).
#include <chrono>
#include <iostream>
#include <string>
#include <utility>

#include <uvtask/uvtask.hpp>

using namespace uvtask;
using namespace std::chrono_literals;

namespace {

/// A request to a database client uvtask does not know; this "database" never answers.
class Query final : public Operation<int> {
public:
    explicit Query(std::string sql) : sql_(std::move(sql)) {}
    [[nodiscard]] std::string describe() const override { return "query '" + sql_ + "'"; }

private:
    void start() override {}
    void stop() noexcept override { cancelled(); }
    std::string sql_;
};

Task<int> count_orders() {
    Query query("SELECT count(*) FROM orders");
    const int rows = co_await query;
    co_return rows;
}

Task<void> write_report(TaskHandle<int>* orders) {
    const int rows = co_await *orders;
    std::cout << "report: " << rows << " orders\n";
}

Task<void> tick() {
    for (;;) {
        co_await sleep(1s);
    }
}

Task<void> refresh_cache(Lock* lock) {
    co_await lock->lock();
    lock->unlock();
}

/// A CPU-bound step of 50 ms with no suspension point: nothing else runs meanwhile, and a cancel
/// waits for its end.
Task<void> parse_big_file() {
    co_await yield_now();
    const auto end = std::chrono::steady_clock::now() + 50ms;
    while (std::chrono::steady_clock::now() < end) {
    }
    co_await yield_now();
}

/// Swallows its cancel by accident: a catch-all around the wait, then a normal return.
Task<int> stubborn() {
    try {
        co_await sleep(10s);
    } catch (...) {
    }
    co_return 0;
}

struct Seen {
    bool slow_parse = false;
    bool swallowed = false;
};

Task<void> service(Seen* seen) {
    Loop& loop = *Loop::current();
    Lock lock;
    co_await lock.lock();  // held by main: refresh-cache waits
    TaskHandle<int> orders = spawn(count_orders(), "count-orders");
    TaskHandle<void> report = spawn(write_report(&orders), "write-report");
    TaskHandle<void> ticker = spawn(tick(), "ticker");
    TaskHandle<void> cache = spawn(refresh_cache(&lock), "refresh-cache");
    TaskHandle<int> stubborn_task = spawn(stubborn(), "stubborn");
    for (int i = 0; i < 3; ++i) {
        co_await yield_now();
    }

    std::cerr << "--- the task dump (Loop::dump_tasks, or SIGUSR1 with dump_tasks_on_sigusr1)\n";
    loop.dump_tasks(std::cerr);
    std::cout << "live tasks:\n";
    for (const TaskInfo& info : loop.tasks()) {
        const std::string wait = info.waiting_on.substr(0, info.waiting_on.find(" ("));
        std::cout << "  " << info.name << ": " << to_string(info.state)
                  << (wait.empty() ? "" : " on " + wait) << '\n';
    }

    std::cerr << "--- the reports (through the loop's exception handler)\n";
    TaskHandle<void> parser = spawn(parse_big_file(), "parse-big-file");
    co_await parser;
    std::cout << "slow step of parse-big-file reported: " << (seen->slow_parse ? "yes" : "no")
              << '\n';

    stubborn_task.cancel("shutting down");
    const int refused = co_await stubborn_task;  // it returned normally: refused the cancel
    std::cout << "stubborn returned " << refused
              << "; swallowed cancel reported: " << (seen->swallowed ? "yes" : "no") << '\n';

    report.cancel("shutting down");  // passed on to count-orders: its query is stopped
    ticker.cancel("shutting down");
    lock.unlock();
    const Outcome<void> report_end = co_await nothrow(report);
    const Outcome<void> ticker_end = co_await nothrow(ticker);
    co_await cache;
    std::cout << "write-report cancelled: " << report_end.is_cancelled()
              << ", ticker cancelled: " << ticker_end.is_cancelled() << '\n';

    const CancelLatencyStats stats = loop.cancel_latency_stats();
    std::cerr << "--- the cancel-latency statistics (Loop::cancel_latency_stats)\n" << stats;
    std::cout << "cancels delivered: " << stats.to_delivery.count
              << ", tasks ended cancelled: " << stats.to_end.count << '\n';
}

}  // namespace

int main() {
    std::cout << std::boolalpha;
    Seen seen;
    RunOptions options;
    options.slow_step_threshold = 20ms;
    options.report_swallowed_cancels = true;
    options.cancel_latency_stats = true;
    options.dump_tasks_on_sigusr1 = true;
    options.exception_handler = [&seen](const ExceptionContext& context) {
        std::cerr << "uvtask: task '" << context.task_name << "': " << context.message << '\n';
        if (context.task_name == "parse-big-file" &&
            context.message.find("resumed from yield_now()") != std::string::npos) {
            seen.slow_parse = true;
        }
        if (context.task_name == "stubborn" &&
            context.message.find("swallowed a cancellation") != std::string::npos) {
            seen.swallowed = true;
        }
    };
    run(service(&seen), options);
    return 0;
}
