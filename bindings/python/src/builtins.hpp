// uvtask Python bindings — the built-in awaitables (sleep, spin, count_primes, sha256_file) and
// live_tasks(): their argument checks and their registration.
#pragma once

#include <pybind11/pybind11.h>

namespace uvtask::python::detail {

/// Adds the built-in functions to the module.
void register_builtins(pybind11::module_& m);

}  // namespace uvtask::python::detail
