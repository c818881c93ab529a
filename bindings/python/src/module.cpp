// The extension module uvtask._uvtask: the Python side of the bridge (the native call objects,
// the ports) and the module's functions (builtins.cpp).
#include <string>
#include <utility>

#include "bridge.hpp"
#include "builtins.hpp"

namespace uvtask::python::detail {

namespace py = pybind11;

namespace {

/// The Python object of one native call (`uvtask._uvtask._NativeCall`).
struct NativeCall {
    std::shared_ptr<Call> call;
    std::string name;
    py::object future = py::none();  ///< the asyncio future it completes, once started
    bool started = false;
};

/// The Python object of one port (`uvtask._uvtask._Port`), one per asyncio loop.
struct Port {
    std::shared_ptr<PortCore> core = std::make_shared<PortCore>();
};

/// `uvtask._bridge._await`, the coroutine function behind every awaitable.
PyObject* await_function() {
    static PyObject* function = nullptr;  // leaked: never released at exit
    if (function == nullptr) {
        py::object bridge = py::module_::import("uvtask._bridge");
        py::object await = bridge.attr("_await");
        function = await.release().ptr();
    }
    return function;
}

void start_call(py::object self, Port& port, py::object future) {
    NativeCall& native = self.cast<NativeCall&>();
    if (native.started) {
        throw py::value_error("uvtask: a native call can be started only once");
    }
    native.started = true;
    native.future = std::move(future);
    native.call->port = port.core;
    native.call->owner = self.inc_ref().ptr();  // released when its end is delivered
    try {
        NativeLoop::instance().start(*native.call, native.name);
    } catch (...) {
        native.call->owner = nullptr;
        self.dec_ref();
        native.future = py::none();
        throw;
    }
}

/// Completes the future of one ended call. Python thread, GIL held.
void deliver(Call& call) {
    PyObject* owner = std::exchange(call.owner, nullptr);
    if (owner == nullptr) {
        return;
    }
    py::object self = py::reinterpret_steal<py::object>(owner);
    try {
        NativeCall& native = self.cast<NativeCall&>();
        py::object future = std::exchange(native.future, py::none());
        if (future.attr("done")().cast<bool>()) {
            return;
        }
        switch (call.end) {
            case End::value: {
                PyObject* value = call.take_value();
                if (value == nullptr) {
                    py::error_already_set conversion;
                    future.attr("set_exception")(conversion.value());
                } else {
                    future.attr("set_result")(py::reinterpret_steal<py::object>(value));
                }
                break;
            }
            case End::failed:
                future.attr("set_exception")(
                    py::reinterpret_steal<py::object>(python_exception(call.error)));
                break;
            case End::cancelled: future.attr("_native_cancelled")(call.cancel_message); break;
            case End::pending:
                future.attr("set_exception")(py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(
                    "uvtask: a native call was published before it ended"));
                break;
        }
    } catch (py::error_already_set& error) {
        error.discard_as_unraisable(self);
    }
}

void drain(Port& port) {
    Call* call = port.core->take_all();
    while (call != nullptr) {
        Call* next = call->next_ready;
        std::shared_ptr<Call> keep = std::move(call->queued);
        deliver(*keep);
        call = next;
    }
}

}  // namespace

PyObject* make_awaitable(std::shared_ptr<Call> call, const char* qualname) noexcept {
    try {
        std::string name = qualname;
        py::object native = py::cast(NativeCall{std::move(call), name});
        py::object coroutine =
            py::reinterpret_steal<py::object>(PyObject_CallOneArg(await_function(), native.ptr()));
        if (!coroutine) {
            throw py::error_already_set();
        }
        coroutine.attr("__qualname__") = name;
        coroutine.attr("__name__") = name.substr(name.rfind('.') + 1);
        return coroutine.release().ptr();
    } catch (py::error_already_set& error) {
        error.restore();
    } catch (const std::exception& error) {
        PyErr_SetString(PyExc_RuntimeError, error.what());
    }
    return nullptr;
}

}  // namespace uvtask::python::detail

PYBIND11_MODULE(_uvtask, m) {
    namespace py = pybind11;
    using namespace uvtask::python::detail;
    py::options options;
    options.disable_function_signatures();  // every docstring starts with its signature
    m.doc() =
        "uvtask's native side: the bridge to the uvtask loop thread and the built-in "
        "awaitables. Use the package `uvtask`.";
    register_exception_translator();

    py::class_<NativeCall>(m, "_NativeCall", "One native call (internal).")
        .def("_start", &start_call, "Spawns the native task; completes `future` when it ends.")
        .def(
            "_cancel",
            [](NativeCall& native, std::string message) {
                return native.call->cancel(std::move(message));
            },
            "Cancels the native task (kind user); False if it has ended.")
        .def_property_readonly("name", [](const NativeCall& native) { return native.name; });

    py::class_<Port>(m, "_Port", "Where ended native calls wait for one asyncio loop (internal).")
        .def(py::init<>())
        .def("fileno", [](const Port& port) { return port.core->fd(); })
        .def("drain", &drain, "Completes the futures of every ended call (the fd's reader).")
        .def(
            "_use_call_soon_threadsafe",
            [](Port& port, py::object loop, py::object drain_method) {
                port.core->use_call_soon_threadsafe(loop.ptr(), drain_method.ptr());
            },
            "Benchmark only: wake the loop with call_soon_threadsafe (GIL on the loop thread).");

    register_builtins(m);

    m.def(
        "_gil_wait_ns",
        // Relaxed: a statistic (see gil_wait_ns).
        [] { return gil_wait_ns.load(std::memory_order_relaxed); },
        "_gil_wait_ns() -> int\n\nBenchmark: nanoseconds the native thread has waited for the "
        "GIL (call_soon_threadsafe completion mode only; 0 with the eventfd).");

    m.def(
        "_shutdown",
        [] {
            py::gil_scoped_release release;
            NativeLoop::instance().shutdown();
        },
        "_shutdown() -> None\n\nStops the native loop (atexit): cancels every native task, waits "
        "for them, joins the thread.");
}
