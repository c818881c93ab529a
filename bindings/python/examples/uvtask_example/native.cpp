// An example C++ extension built on uvtask/python.hpp: each native coroutine is exposed to
// asyncio in one line (see the end of the file). The tests in tests/python/ use it for native
// jobs with observable cleanup, refusals and every kind of error.
#include <uvtask/python.hpp>
#include <uvtask/uvtask.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;
using namespace std::chrono_literals;

namespace {

// What the native jobs did, for the tests to check from Python (written on the loop thread).
struct Journal {
    std::mutex mutex;
    std::uint64_t started = 0;
    std::vector<std::pair<std::string, std::string>> cleanups;  // (message, kind)
};
Journal journal;

uvtask::Task<void> pause(std::chrono::milliseconds duration) { co_await uvtask::sleep(duration); }

uvtask::Task<void> write_note(std::string path, std::string text) {
    if (!path.empty()) {
        co_await uvtask::write_file(std::move(path), std::move(text));
    }
}

/// The seed's heavy worker, natively: CPU-bound work for `seconds` (checkpointed). Cancelled,
/// it runs an asynchronous cleanup that cannot be interrupted — 20 ms, then a note in the
/// journal and, if `note_path` is given, in that file — and re-raises.
uvtask::Task<std::string> heavy_worker(double seconds, std::string note_path) {
    {
        std::lock_guard<std::mutex> guard(journal.mutex);
        ++journal.started;
    }
    const auto start = std::chrono::steady_clock::now();
    const auto budget = std::chrono::duration<double>(seconds);
    std::string message;
    std::string kind;
    bool cancelled = false;
    try {
        while (std::chrono::steady_clock::now() - start < budget) {
            co_await uvtask::checkpoint();
        }
    } catch (const uvtask::CancelledError& cancel) {
        cancelled = true;  // no co_await in a catch block: act after it
        message = cancel.message();
        kind = std::string(uvtask::to_string(cancel.kind()));
    }
    if (!cancelled) {
        co_return "Done";
    }
    co_await uvtask::non_cancellable(pause(20ms));
    co_await uvtask::non_cancellable(
        write_note(note_path, "cleaned up: " + message + " (" + kind + ")\n"));
    {
        std::lock_guard<std::mutex> guard(journal.mutex);
        journal.cleanups.emplace_back(message, kind);
    }
    throw uvtask::CancelledError(message, uvtask::CancelKind::user);
}

/// Refuses a cancel: sleeps `seconds`; cancelled, it returns "refused: <message>" instead.
uvtask::Task<std::string> stubborn(double seconds) {
    std::string answer = "slept";
    try {
        co_await uvtask::sleep(std::chrono::duration<double>(seconds));
    } catch (const uvtask::CancelledError& cancel) {
        answer = "refused: " + cancel.message();
    }
    co_return answer;
}

uvtask::Task<std::int64_t> add(std::int64_t a, std::int64_t b) { co_return a + b; }

/// A native deadline: waits for a 10 s sleep at most `seconds` → TimeoutError.
uvtask::Task<void> native_timeout(double seconds) {
    co_await uvtask::wait_for(uvtask::sleep(10s), std::chrono::duration<double>(seconds));
}

uvtask::Task<void> fail(std::string message) {
    co_await uvtask::yield_now();
    throw std::runtime_error(message);
}

uvtask::Task<void> invalid(std::string message) {
    co_await uvtask::yield_now();
    throw std::invalid_argument(message);
}

uvtask::Task<std::string> read_text(std::string path) {
    std::string text = co_await uvtask::read_file(std::move(path));
    co_return text;
}

uvtask::Task<std::vector<std::int64_t>> squares(std::int64_t n) {
    std::vector<std::int64_t> out;
    for (std::int64_t i = 0; i < n; ++i) {
        out.push_back(i * i);
        co_await uvtask::checkpoint();
    }
    co_return out;
}

}  // namespace

PYBIND11_MODULE(_native, m) {
    m.doc() = "An example extension built on uvtask/python.hpp.";
    using uvtask::python::def;
    def(m, "heavy_worker", &heavy_worker,
        "CPU-bound work; cancelled, an async cleanup, then re-raise.", py::arg("seconds"),
        py::arg("note_path") = std::string());
    def(m, "stubborn", &stubborn, "Sleeps; cancelled, returns 'refused: <message>'.",
        py::arg("seconds"));
    def(m, "add", &add, "a + b, natively.", py::arg("a"), py::arg("b"));
    def(m, "native_timeout", &native_timeout, "A native wait_for that times out.",
        py::arg("seconds"));
    def(m, "fail", &fail, "Raises RuntimeError(message) natively.", py::arg("message"));
    def(m, "invalid", &invalid, "Raises ValueError(message) natively.", py::arg("message"));
    def(m, "read_text", &read_text, "The text of a file, read natively.", py::arg("path"));
    def(m, "squares", &squares, "[0, 1, 4, …, (n-1)**2], natively.", py::arg("n"));

    m.def(
        "started",
        [] {
            std::lock_guard<std::mutex> guard(journal.mutex);
            return journal.started;
        },
        "How many heavy_worker bodies have started.");
    m.def(
        "cleanups",
        [] {
            std::lock_guard<std::mutex> guard(journal.mutex);
            return journal.cleanups;
        },
        "The (message, kind) of every heavy_worker cleanup that has finished.");
}
