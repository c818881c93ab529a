// Soak: many rounds of a million tasks that sleep; half of them are cancelled, the other half
// complete. Prints the resident set size after each round and the peak, so that a leak (a task
// state, a frame, a timer node or a cancel message kept after its task ended) shows as growth
// from round to round. Not a test: run it by hand (bench/soak/README.md).
//
//   uvtask_soak [--tasks N] [--rounds R] [--sleep-ms MS]
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

using namespace uvtask;
using namespace std::chrono_literals;

namespace {

struct Options {
    std::size_t tasks = 1'000'000;
    int rounds = 5;
    int sleep_ms = 200;
};

/// A field of /proc/self/status in KiB ("VmRSS", "VmHWM"), or -1.
long status_kib(const char* field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    const std::string prefix = std::string(field) + ":";
    while (std::getline(status, line)) {
        if (line.compare(0, prefix.size(), prefix) == 0) {
            return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
        }
    }
    return -1;
}

double mib(long kib) { return static_cast<double>(kib) / 1024.0; }

Task<int> sleeper(std::chrono::milliseconds delay) {
    co_await sleep(delay);
    co_return 1;
}

Task<int> soak(Options options) {
    Loop& loop = *Loop::current();
    std::printf("uvtask soak: %d rounds of %zu tasks sleeping %d ms, every other one cancelled\n",
                options.rounds, options.tasks, options.sleep_ms);
    std::printf("%-6s %10s %10s %10s %12s %12s %12s %8s\n", "round", "spawned", "cancelled",
                "completed", "rss_live_MiB", "rss_end_MiB", "peak_MiB", "seconds");
    int failures = 0;
    for (int round = 1; round <= options.rounds; ++round) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<TaskHandle<int>> handles;
        handles.reserve(options.tasks);
        for (std::size_t i = 0; i < options.tasks; ++i) {
            handles.push_back(spawn(sleeper(std::chrono::milliseconds(options.sleep_ms))));
        }
        for (std::size_t i = 0; i < handles.size(); i += 2) {
            handles[i].cancel("soak");
        }
        const long live_kib = status_kib("VmRSS");  // every task spawned, none awaited yet
        while (loop.live_tasks() > 1) {             // the main task is one of them
            co_await sleep(10ms);
        }
        std::size_t cancelled = 0;
        std::size_t completed = 0;
        for (const TaskHandle<int>& handle : handles) {
            cancelled += handle.cancelled() ? 1 : 0;
            completed += handle.done() && !handle.cancelled() ? 1 : 0;
        }
        handles.clear();
        handles.shrink_to_fit();
        if (cancelled + completed != options.tasks) {
            ++failures;
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("%-6d %10zu %10zu %10zu %12.1f %12.1f %12.1f %8.2f\n", round, options.tasks,
                    cancelled, completed, mib(live_kib), mib(status_kib("VmRSS")),
                    mib(status_kib("VmHWM")), seconds);
        std::fflush(stdout);
    }
    co_return failures;
}

bool parse(int argc, char** argv, Options& options) {
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--tasks") == 0 && has_value) {
            options.tasks = std::strtoull(argv[++i], nullptr, 10);
        } else if (std::strcmp(argv[i], "--rounds") == 0 && has_value) {
            options.rounds = std::atoi(argv[++i]);
        } else if (std::strcmp(argv[i], "--sleep-ms") == 0 && has_value) {
            options.sleep_ms = std::atoi(argv[++i]);
        } else {
            return false;
        }
    }
    return options.tasks > 0 && options.rounds > 0 && options.sleep_ms >= 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (!parse(argc, argv, options)) {
        std::fprintf(stderr, "usage: uvtask_soak [--tasks N] [--rounds R] [--sleep-ms MS]\n");
        return 2;
    }
    const int failures = run(soak(options));
    std::printf("uvtask soak: peak RSS %.1f MiB\n", mib(status_kib("VmHWM")));
    if (failures != 0) {
        std::printf("uvtask soak: %d rounds where a task neither completed nor ended cancelled\n",
                    failures);
    }
    return failures == 0 ? 0 : 1;
}
