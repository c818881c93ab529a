// Private: the cancel-latency statistics of a loop (`Loop::set_cancel_latency_stats`): two
// log-scale histograms, 8 buckets per power of two, exact below 16 ns and for the maximum.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdint>

#include "uvtask/debug.hpp"

namespace uvtask::detail {

class LatencyHistogram {
public:
    void add(std::uint64_t ns) noexcept {
        ++counts_[index_of(ns)];
        ++count_;
        max_ = std::max(max_, ns);
    }
    [[nodiscard]] LatencySummary summary() const noexcept {
        LatencySummary out;
        out.count = count_;
        out.max = std::chrono::nanoseconds(max_);
        out.p50 = std::chrono::nanoseconds(percentile(50));
        out.p99 = std::chrono::nanoseconds(percentile(99));
        return out;
    }

private:
    static constexpr std::size_t exact = 16;
    static constexpr std::size_t buckets = exact + (64 - 4) * 8;
    static std::size_t index_of(std::uint64_t ns) noexcept {
        if (ns < exact) {
            return static_cast<std::size_t>(ns);
        }
        const int top = 63 - std::countl_zero(ns);  // ≥ 4
        const auto sub = static_cast<std::size_t>((ns >> (top - 3)) & 7);
        return exact + static_cast<std::size_t>(top - 4) * 8 + sub;
    }
    // The largest value of bucket `index`.
    static std::uint64_t upper_of(std::size_t index) noexcept {
        if (index < exact) {
            return index;
        }
        const std::size_t top = (index - exact) / 8 + 4;
        const std::uint64_t sub = (index - exact) % 8;
        return ((8 + sub + 1) << (top - 3)) - 1;
    }
    // The value at `percent` (the bucket holding that rank, capped at the exact maximum).
    [[nodiscard]] std::uint64_t percentile(std::uint64_t percent) const noexcept {
        if (count_ == 0) {
            return 0;
        }
        const std::uint64_t rank = std::max<std::uint64_t>(1, (count_ * percent + 99) / 100);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < buckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                return std::min(upper_of(i), max_);
            }
        }
        return max_;
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
};

/// The two distributions of `CancelLatencyStats`. Loop thread.
struct LatencyStats {
    LatencyHistogram to_delivery;
    LatencyHistogram to_end;
};

}  // namespace uvtask::detail
