// The native coroutines of the built-in awaitables: real CPU-bound work with checkpoint() in
// its loops, so that a cancel from asyncio stops it within microseconds.
#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <span>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "jobs.hpp"
#include "sha256.hpp"
#include "uvtask/fs.hpp"
#include "uvtask/io_error.hpp"
#include "uvtask/sleep.hpp"
#include "uvtask/yield.hpp"

namespace uvtask::python::detail {

namespace {

using Clock = std::chrono::steady_clock;

/// Odd numbers per sieve window: 64 Ki numbers, a few tens of microseconds of work.
constexpr std::size_t window_odds = 32768;

std::uint64_t isqrt(std::uint64_t n) noexcept {
    auto root = static_cast<std::uint64_t>(std::sqrt(static_cast<double>(n)));
    while (root * root > n) {
        --root;
    }
    while ((root + 1) * (root + 1) <= n) {
        ++root;
    }
    return root;
}

/// The odd primes up to `n` (n <= 2**20 here), by trial division: small and fast enough.
std::vector<std::uint32_t> odd_primes_by_division(std::uint64_t n) {
    std::vector<std::uint32_t> primes;
    for (std::uint32_t candidate = 3; candidate <= n; candidate += 2) {
        bool prime = true;
        for (std::uint32_t p : primes) {
            if (std::uint64_t{p} * p > candidate) {
                break;
            }
            if (candidate % p == 0) {
                prime = false;
                break;
            }
        }
        if (prime) {
            primes.push_back(candidate);
        }
    }
    return primes;
}

/// Sieves the odd numbers low, low+2, … (`flags.size()` of them, `low` odd) with the odd primes
/// `primes`: flags[i] becomes 1 for each composite. Returns how many of the first `count`
/// numbers are prime.
std::size_t sieve_window(std::uint64_t low, std::vector<unsigned char>& flags, std::size_t count,
                         const std::vector<std::uint32_t>& primes) noexcept {
    std::fill(flags.begin(), flags.end(), 0);
    const std::uint64_t high = low + 2 * (count - 1);  // the last number of the window
    for (std::uint32_t p : primes) {
        const std::uint64_t square = std::uint64_t{p} * p;
        if (square > high) {
            break;
        }
        std::uint64_t first = square;
        if (first < low) {
            first = (low + p - 1) / p * p;
            if (first % 2 == 0) {
                first += p;
            }
        }
        for (std::uint64_t i = (first - low) / 2; i < count; i += p) {
            flags[i] = 1;
        }
    }
    std::size_t primes_here = 0;
    for (std::size_t i = 0; i < count; ++i) {
        primes_here += flags[i] == 0 ? 1 : 0;
    }
    return primes_here;
}

}  // namespace

Task<void> sleep_ns(std::uint64_t ns) { co_await uvtask::sleep(std::chrono::nanoseconds(ns)); }

Task<void> spin_ns(std::uint64_t ns) {
    const Clock::time_point start = Clock::now();
    const auto budget = std::chrono::nanoseconds(ns);
    while (Clock::now() - start < budget) {
        co_await checkpoint();
    }
}

Task<void> nothing() { co_return; }

Task<std::uint64_t> count_primes(std::uint64_t limit) {
    if (limit < 2) {
        co_return 0;
    }
    const std::uint64_t root = isqrt(limit);
    // The sieving primes: odd primes up to sqrt(limit), from windows sieved by the primes up to
    // the fourth root (found by trial division).
    const std::vector<std::uint32_t> small = odd_primes_by_division(isqrt(root));
    std::vector<std::uint32_t> base;
    std::vector<unsigned char> flags(window_odds);
    for (std::uint64_t low = 3; low <= root; low += 2 * window_odds) {
        const std::size_t count =
            static_cast<std::size_t>(std::min<std::uint64_t>(window_odds, (root - low) / 2 + 1));
        (void)sieve_window(low, flags, count, small);
        for (std::size_t i = 0; i < count; ++i) {
            if (flags[i] == 0) {
                base.push_back(static_cast<std::uint32_t>(low + 2 * i));
            }
        }
        co_await checkpoint();
    }
    std::uint64_t total = 1;  // 2
    for (std::uint64_t low = 3; low <= limit; low += 2 * window_odds) {
        const std::size_t count =
            static_cast<std::size_t>(std::min<std::uint64_t>(window_odds, (limit - low) / 2 + 1));
        total += sieve_window(low, flags, count, base);
        co_await checkpoint();
    }
    co_return total;
}

Task<std::string> sha256_file(std::string path) {
    constexpr std::size_t block_size = 256 * 1024;
    constexpr std::size_t slice = 16 * 1024;
    File file = co_await File::open(path, O_RDONLY);
    Sha256 hash;
    std::vector<unsigned char> block(block_size);
    for (;;) {
        std::size_t got = 0;
        try {
            const std::size_t n =
                co_await file.read(std::as_writable_bytes(std::span<unsigned char>(block)));
            got = n;
        } catch (const IoError& error) {
            if (error.detail().empty()) {
                throw IoError(error.uv_status(), error.operation(), path);  // name the file
            }
            throw;
        }
        if (got == 0) {
            break;
        }
        for (std::size_t offset = 0; offset < got; offset += slice) {
            hash.update(block.data() + offset, std::min(slice, got - offset));
            co_await checkpoint();
        }
    }
    co_await file.close();
    co_return hash.hex_digest();
}

}  // namespace uvtask::python::detail
