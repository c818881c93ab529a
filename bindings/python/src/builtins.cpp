// The built-in awaitables: their argument checks (at the call: TypeError, ValueError) and
// their registration. The native coroutines are in jobs.cpp.
#include "builtins.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <utility>

#include "bridge.hpp"
#include "jobs.hpp"

namespace uvtask::python::detail {

namespace py = pybind11;

namespace {

template <class T>
py::object awaitable(Task<T> task, const char* qualname) {
    PyObject* result = make_awaitable(std::make_shared<CallOf<T>>(std::move(task)), qualname);
    if (result == nullptr) {
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(result);
}

/// `seconds` as nanoseconds, rounded up: ValueError for NaN or a negative value; infinity and
/// anything beyond ~292 years saturate (wait "forever").
std::uint64_t duration_ns(double seconds, const char* function) {
    if (std::isnan(seconds)) {
        throw py::value_error(std::string(function) + "(): seconds must not be NaN");
    }
    if (seconds < 0) {
        throw py::value_error(std::string(function) + "(): seconds must not be negative");
    }
    const double ns = std::ceil(seconds * 1e9);
    if (ns >= 9.2e18) {
        return static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    }
    return static_cast<std::uint64_t>(ns);
}

std::uint64_t prime_limit(const py::int_& limit) {
    int overflow = 0;
    const long long value = PyLong_AsLongLongAndOverflow(limit.ptr(), &overflow);
    if (value == -1 && PyErr_Occurred() != nullptr) {
        throw py::error_already_set();
    }
    if (overflow < 0 || (overflow == 0 && value < 0)) {
        throw py::value_error("count_primes(): limit must not be negative");
    }
    if (overflow > 0 || static_cast<unsigned long long>(value) > max_prime_limit) {
        throw py::value_error("count_primes(): limit must be at most 2**40");
    }
    return static_cast<std::uint64_t>(value);
}

/// A path argument (str, bytes or os.PathLike) as the bytes the OS sees. `ValueError` for an
/// embedded NUL byte (as `open()` says): the OS would see only the path before it.
std::string path_bytes(const py::object& path) {
    py::object fspath = py::module_::import("os").attr("fsencode")(path);  // TypeError for others
    std::string bytes = fspath.cast<std::string>();
    if (bytes.find('\0') != std::string::npos) {
        throw py::value_error("uvtask: embedded null byte in path");
    }
    return bytes;
}

}  // namespace

void register_builtins(py::module_& m) {
    m.def(
        "sleep",
        [](double seconds) {
            return awaitable(sleep_ns(duration_ns(seconds, "sleep")), "uvtask.sleep");
        },
        py::arg("seconds"),
        "sleep(seconds: float) -> Coroutine[Any, Any, None]\n\n"
        "Sleeps for at least `seconds` on uvtask's native loop (a libuv timer, millisecond "
        "resolution).\n\n"
        "Completes when: the time has passed. Cancelling the awaiting task stops the timer; "
        "CancelledError is raised once the native task has ended.\n"
        "Raises: TypeError if `seconds` is not a number; ValueError if it is negative or NaN.");
    m.def(
        "spin",
        [](double seconds) {
            return awaitable(spin_ns(duration_ns(seconds, "spin")), "uvtask.spin");
        },
        py::arg("seconds"),
        "spin(seconds: float) -> Coroutine[Any, Any, None]\n\n"
        "Keeps a CPU busy for `seconds` on uvtask's native thread, passing a checkpoint() every "
        "few nanoseconds: the model of CPU-bound native work that a cancel really stops. The "
        "asyncio loop stays free meanwhile.\n\n"
        "Completes when: the time has passed. Cancelling the awaiting task interrupts the spin "
        "at its next checkpoint.\n"
        "Raises: TypeError if `seconds` is not a number; ValueError if it is negative or NaN.");
    m.def(
        "count_primes",
        [](const py::int_& limit) {
            return awaitable(count_primes(prime_limit(limit)), "uvtask.count_primes");
        },
        py::arg("limit"),
        "count_primes(limit: int) -> Coroutine[Any, Any, int]\n\n"
        "The number of primes p <= limit (segmented sieve of Eratosthenes on the native thread, "
        "a checkpoint() after every 64 Ki numbers).\n\n"
        "Completes when: the count is done. Cancelling the awaiting task interrupts the sieve at "
        "its next checkpoint.\n"
        "Raises: TypeError if `limit` is not an int; ValueError if it is negative or above "
        "2**40.");
    m.def(
        "sha256_file",
        [](const py::object& path) {
            return awaitable(sha256_file(path_bytes(path)), "uvtask.sha256_file");
        },
        py::arg("path"),
        "sha256_file(path: str | bytes | os.PathLike) -> Coroutine[Any, Any, str]\n\n"
        "The SHA-256 of the file at `path`, as 64 lowercase hex digits: the file is read in "
        "256 KiB blocks through libuv's thread pool and hashed on the native thread, with a "
        "checkpoint() after every 16 KiB.\n\n"
        "Completes when: the whole file is hashed. Cancelling the awaiting task stops it between "
        "two blocks or two slices (a read already running completes first); the file is closed.\n"
        "Raises: TypeError if `path` is not a path, ValueError if it has a NUL byte (at the "
        "call); FileNotFoundError, IsADirectoryError, PermissionError… (OSError with errno and "
        "filename) at the await.");
    m.def(
        "live_tasks",
        [] {
            py::gil_scoped_release release;
            return NativeLoop::instance().live_tasks();
        },
        "live_tasks() -> int\n\n"
        "How many native tasks have not ended yet (0 before the first native call). A native "
        "task has ended — its cleanup done — before its awaiter gets the result or the "
        "CancelledError, so this is 0 once every awaiter has its answer.\n\n"
        "Completes at once (asks the native loop thread and waits for its answer, without the "
        "GIL).");
    m.def(
        "_noop", [] { return awaitable(nothing(), "uvtask._noop"); },
        "_noop() -> Coroutine[Any, Any, None]\n\nBenchmark: the cheapest native round trip.");
}

}  // namespace uvtask::python::detail
