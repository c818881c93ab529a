// C++ exceptions as Python exceptions (docs/python.md, "Errors").
#include <netdb.h>

#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "bridge.hpp"
#include "uvtask/exception_group.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::python::detail {

namespace py = pybind11;

namespace {

/// The getaddrinfo code (EAI_*) of a libuv EAI error, or 0.
int eai_code(int uv_status) noexcept {
    switch (uv_status) {
        case UV_EAI_ADDRFAMILY: return EAI_ADDRFAMILY;
        case UV_EAI_AGAIN: return EAI_AGAIN;
        case UV_EAI_BADFLAGS: return EAI_BADFLAGS;
        case UV_EAI_FAIL: return EAI_FAIL;
        case UV_EAI_FAMILY: return EAI_FAMILY;
        case UV_EAI_MEMORY: return EAI_MEMORY;
        case UV_EAI_NODATA: return EAI_NODATA;
        case UV_EAI_NONAME: return EAI_NONAME;
        case UV_EAI_OVERFLOW: return EAI_OVERFLOW;
        case UV_EAI_SERVICE: return EAI_SERVICE;
        case UV_EAI_SOCKTYPE: return EAI_SOCKTYPE;
        default: return 0;
    }
}

/// Operations whose `IoError::detail()` is a path: it becomes the OSError's `filename`.
bool detail_is_path(const std::string& operation) noexcept {
    for (const char* op : {"open", "stat", "read", "write", "fsync", "close", "spawn"}) {
        if (operation == op) {
            return true;
        }
    }
    return false;
}

py::object os_error(const IoError& error) {
    const int uv = error.uv_status();
    const std::string& detail = error.detail();
    const std::string message = error.code().message();
    if (const int eai = eai_code(uv); eai != 0) {
        py::object gaierror = py::module_::import("socket").attr("gaierror");
        return gaierror(eai, detail.empty() ? message : message + " (" + detail + ")");
    }
    py::object os_error = py::reinterpret_borrow<py::object>(PyExc_OSError);
    if (uv < 0 && -uv < 3000) {  // libuv's codes for errno values are -errno on Unix
        const int code = -uv;
        if (!detail.empty() && detail_is_path(error.operation())) {
            return os_error(code, std::strerror(code), detail);  // OSError picks the subclass
        }
        std::string text = std::strerror(code);
        if (!detail.empty() || !error.operation().empty()) {
            text += " (" + error.operation() + (detail.empty() ? "" : " " + detail) + ")";
        }
        return os_error(code, text);
    }
    return os_error(std::string(error.what()));  // EOF and libuv's own codes: no errno
}

py::object from_current() {
    try {
        throw;
    } catch (const TimeoutError& error) {
        return py::reinterpret_borrow<py::object>(PyExc_TimeoutError)(error.what());
    } catch (const IoError& error) {
        return os_error(error);
    } catch (const ExceptionGroup& group) {
        py::list members;
        for (const std::exception_ptr& member : group.exceptions()) {
            members.append(py::reinterpret_steal<py::object>(python_exception(member)));
        }
        py::object type = py::module_::import("builtins").attr("ExceptionGroup");
        return type(group.message(), members);
    } catch (const CancelledError& cancel) {
        // A CancelledError stored as a failure (thrown by a thread-pool job, say).
        return py::module_::import("asyncio").attr("CancelledError")(cancel.message());
    } catch (const std::bad_alloc&) {
        return py::reinterpret_borrow<py::object>(PyExc_MemoryError)();
    } catch (const std::invalid_argument& error) {  // InvalidDurationError among them
        return py::reinterpret_borrow<py::object>(PyExc_ValueError)(error.what());
    } catch (const std::domain_error& error) {
        return py::reinterpret_borrow<py::object>(PyExc_ValueError)(error.what());
    } catch (const std::out_of_range& error) {
        return py::reinterpret_borrow<py::object>(PyExc_ValueError)(error.what());
    } catch (const std::exception& error) {  // InvalidStateError, std::runtime_error, …
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)(error.what());
    } catch (...) {
        return py::reinterpret_borrow<py::object>(PyExc_RuntimeError)("unknown C++ exception");
    }
}

}  // namespace

PyObject* python_exception(const std::exception_ptr& error) noexcept {
    try {
        try {
            std::rethrow_exception(error);
        } catch (...) {
            return from_current().release().ptr();
        }
    } catch (py::error_already_set& failure) {
        // Building the exception failed (out of memory, an import failed): report that one.
        PyObject* value = failure.value().ptr();
        Py_XINCREF(value);
        if (value != nullptr) {
            return value;
        }
    } catch (...) {
    }
    PyObject* fallback = PyObject_CallFunction(PyExc_RuntimeError, "s", "uvtask: unmappable error");
    if (fallback == nullptr) {
        PyErr_Clear();
        Py_INCREF(PyExc_RuntimeError);
        return PyExc_RuntimeError;
    }
    return fallback;
}

void register_exception_translator() {
    py::register_local_exception_translator([](std::exception_ptr error) {
        if (!error) {
            return;
        }
        try {
            std::rethrow_exception(error);
        } catch (const py::builtin_exception&) {
            throw;  // pybind11's own (TypeError, ValueError…): its default translation
        } catch (const py::error_already_set&) {
            throw;
        } catch (...) {
        }
        PyObject* exception = python_exception(error);
        PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception)), exception);
        Py_DECREF(exception);
    });
}

}  // namespace uvtask::python::detail
