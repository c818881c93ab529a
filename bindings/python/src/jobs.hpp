// uvtask Python bindings — the native coroutines behind the built-in awaitables (plain C++: no
// Python in them, they run on the loop thread).
#pragma once

#include <cstdint>
#include <string>

#include "uvtask/task.hpp"

namespace uvtask::python::detail {

/// sleep(): `ns` nanoseconds on the loop's timer.
Task<void> sleep_ns(std::uint64_t ns);
/// spin(): busy for `ns` nanoseconds, a checkpoint() at every turn.
Task<void> spin_ns(std::uint64_t ns);
/// count_primes(): the primes p <= limit, a checkpoint() per window of 64 Ki numbers.
Task<std::uint64_t> count_primes(std::uint64_t limit);
/// sha256_file(): the file read in 256 KiB blocks, a checkpoint() per 16 KiB hashed.
Task<std::string> sha256_file(std::string path);
/// _noop(): returns at once (the cheapest round trip, for the benchmark).
Task<void> nothing();

/// The largest limit count_primes() accepts (2**40).
inline constexpr std::uint64_t max_prime_limit = std::uint64_t{1} << 40;

}  // namespace uvtask::python::detail
