// What uvtask's benchmark programs share: the monotonic clock, the --quick/--only parameters,
// and the JSON output of bench/PROTOCOL.md (nearest-rank percentiles, every sample kept).
#pragma once

#include <uvtask/uvtask.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace bench {

inline std::uint64_t now() noexcept {
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch() /
                                      std::chrono::nanoseconds(1));
}

struct Params {
    bool quick = false;
    std::set<std::string> only;
    [[nodiscard]] bool wants(const std::string& s) const { return only.empty() || only.count(s); }
    [[nodiscard]] int pick(int full, int q) const { return quick ? q : full; }
};

/// Parses `[--quick] [--only S1,S2,...]`; false (after a usage line on stderr) on anything else.
inline bool parse_params(int argc, char** argv, Params& params) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--quick") {
            params.quick = true;
        } else if (arg == "--only" && i + 1 < argc) {
            std::stringstream list(argv[++i]);
            for (std::string item; std::getline(list, item, ',');) {
                for (char& c : item) {
                    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                }
                params.only.insert(item);
            }
        } else {
            std::fprintf(stderr, "usage: %s [--quick] [--only S1,S2,...]\n", argv[0]);
            return false;
        }
    }
    return true;
}

// ---- output: the metrics object, filled in as the scenarios run

inline std::ostringstream metrics;
inline bool first_metric = true;

inline void begin_metric(const std::string& name) {
    metrics << (first_metric ? "\n    " : ",\n    ") << '"' << name << "\": ";
    first_metric = false;
}

inline void latency_metric(const std::string& name, std::vector<std::uint64_t> samples) {
    std::sort(samples.begin(), samples.end());
    const std::size_t n = samples.size();
    auto rank = [&](double q) {
        const auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(n)));
        return samples[std::min(n - 1, k == 0 ? 0 : k - 1)];
    };
    begin_metric(name);
    metrics << "{\"unit\": \"ns\", \"n\": " << n << ", \"p50\": " << rank(0.50)
            << ", \"p90\": " << rank(0.90) << ", \"p99\": " << rank(0.99)
            << ", \"p999\": " << rank(0.999) << ", \"max\": " << samples.back()
            << ", \"samples\": [";
    for (std::size_t i = 0; i < n; ++i) {
        metrics << (i ? "," : "") << samples[i];
    }
    metrics << "]}";
}

inline void scalar_metric(const std::string& name, const std::string& unit, double value,
                          const std::vector<double>& runs = {}) {
    begin_metric(name);
    metrics << "{\"unit\": \"" << unit << "\", \"value\": " << value;
    if (!runs.empty()) {
        metrics << ", \"runs\": [";
        for (std::size_t i = 0; i < runs.size(); ++i) {
            metrics << (i ? ", " : "") << runs[i];
        }
        metrics << "]";
    }
    metrics << "}";
}

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// Prints the program's JSON object (runtime "uvtask", or the row named) on stdout.
inline void print_result(const char* runtime = "uvtask") {
    std::printf(
        "{\n  \"runtime\": \"%s\",\n  \"version\": \"uvtask 0.1.0 (libuv %s, %s)\",\n"
        "  \"skipped\": null,\n  \"metrics\": {%s\n  }\n}\n",
        runtime, uv_version_string(),
#if defined(__clang__)
        "clang " __clang_version__,
#else
        "g++ " __VERSION__,
#endif
        metrics.str().c_str());
}

}  // namespace bench
