// uvtask Python bindings — the built-in awaitables (sleep, spin, count_primes, sha256_file) and
// live_tasks().
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "uvtask/task.hpp"

namespace uvtask::python::detail {

/// The native coroutines behind the built-ins (arguments already validated).
Task<void> sleep_ns(std::uint64_t ns);
Task<void> spin_ns(std::uint64_t ns);
Task<std::uint64_t> count_primes(std::uint64_t limit);
Task<std::string> sha256_file(std::string path);
Task<void> nothing();

/// The largest limit count_primes() accepts (2**40).
inline constexpr std::uint64_t max_prime_limit = std::uint64_t{1} << 40;

/// Adds the built-in functions to the module.
void register_builtins(pybind11::module_& m);

}  // namespace uvtask::python::detail
