// uvtask — Python bindings: expose C++ `Task<T>` functions to asyncio, one line each.
//
// A C++ extension module built on this header shares the bridge of the `uvtask` package: its
// coroutines run on uvtask's one native loop thread, `await`ing them from asyncio starts a
// native task, and `task.cancel(msg)` on the asyncio side cancels it across threads, asyncio
// seeing `CancelledError` only once the native task has ended (docs/python.md).
//
//     #include <uvtask/python.hpp>
//     #include <uvtask/uvtask.hpp>
//
//     uvtask::Task<std::uint64_t> collatz_steps(std::uint64_t n) { … co_await uvtask::checkpoint();
//     … }
//
//     PYBIND11_MODULE(_native, m) {
//         uvtask::python::def(m, "collatz_steps", &collatz_steps, "Steps to reach 1.",
//         pybind11::arg("n"));
//     }
//
// Building such a module (bindings/python/examples/ is a complete one):
// - compile against the uvtask headers and pybind11, and do NOT link the uvtask library: its
//   symbols come from `uvtask._uvtask`, which must be the only copy of the runtime in the process
//   (a second copy would have its own thread-local "current task" and its own loop);
// - keep the default symbol visibility (meson: `gnu_symbol_visibility : 'default'`), so that the
//   runtime's inline thread-locals in your module bind to the runtime's own;
// - import it from a Python package whose `__init__.py` first does
//   `import uvtask; uvtask.share_runtime()`, which makes the runtime's symbols visible to the
//   extension modules loaded after it.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>  // std::vector, std::optional, std::map… as arguments and results

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/loop.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"

namespace uvtask::python {

namespace detail {

/// How a native call ended, as seen by the bridge.
enum class End : unsigned char { pending, value, failed, cancelled };

class PortCore;

/// One native call made from Python: the unstarted Task, then the spawned task and, once it has
/// ended, its outcome. Shared (`std::shared_ptr`) by its Python object, the loop thread's done
/// callback and, once it has ended, the queue of the asyncio loop that awaits it. Holds no
/// Python object, so that the loop thread may drop the last reference.
class Call : public std::enable_shared_from_this<Call> {
public:
    Call() noexcept = default;
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    virtual ~Call();

    /// Python thread (GIL held), under the bridge's lock: spawns the task on `loop` and asks the
    /// loop to watch for its end. Throws what `spawn_on` throws.
    virtual void start(Loop& loop, std::string name) = 0;
    /// Any thread: `TaskHandle::cancel(message, CancelKind::user)`; false if the task has ended
    /// (or never started).
    virtual bool cancel(std::string message) = 0;
    /// Python thread, GIL held, after the task ended with a value: the value converted to a new
    /// Python reference, or null with a Python error set.
    [[nodiscard]] virtual PyObject* take_value() noexcept = 0;

    // The outcome: written by the loop thread before `publish()`, read by the Python thread after
    // the port's mutex handed the call over.
    End end = End::pending;
    std::exception_ptr error;    ///< End::failed
    std::string cancel_message;  ///< End::cancelled: the message of the CancelledError
    CancelKind cancel_kind = CancelKind::user;

    // The bridge's bookkeeping (bindings/python/src/bridge.cpp); not for extension code.
    std::weak_ptr<PortCore> port;  ///< set by the Python thread before `start`
    PyObject* owner = nullptr;     ///< strong reference to the Python object; Python thread only
    Call* next_ready = nullptr;    ///< link in the port's queue (under its mutex)
    std::shared_ptr<Call> queued;  ///< keeps the call alive while it is queued

protected:
    /// Loop thread, once the task has ended and the outcome is set: hands the call to the asyncio
    /// loop that awaits it (eventfd; never takes the GIL). Never throws.
    void publish() noexcept;
    /// Loop thread: records `handle`'s end (value, failure or cancellation) and publishes it.
    template <class T, class Store>
    void finish_from(const TaskHandle<T>& handle, Store&& store) noexcept;
};

/// A new Python awaitable (a coroutine object named `qualname`) bound to the unstarted `call`:
/// awaiting it starts the native task. A new reference, or null with a Python error set.
[[nodiscard]] PyObject* make_awaitable(std::shared_ptr<Call> call, const char* qualname) noexcept;

template <class T, class Store>
void Call::finish_from(const TaskHandle<T>& handle, Store&& store) noexcept {
    try {
        if (handle.cancelled()) {
            end = End::cancelled;
            try {
                (void)handle.exception();  // rethrows the task's CancelledError
            } catch (const CancelledError& cancel) {
                cancel_message = cancel.message();
                cancel_kind = cancel.kind();
            }
        } else if (std::exception_ptr failure = handle.exception()) {
            end = End::failed;
            error = std::move(failure);
        } else {
            store(handle);
            end = End::value;
        }
    } catch (...) {
        end = End::failed;  // copying the result failed (out of memory)
        error = std::current_exception();
    }
    publish();
}

/// A `Call` for a `Task<T>`.
template <class T>
class CallOf final : public Call {
public:
    explicit CallOf(Task<T> task) noexcept : task_(std::move(task)) {}

    void start(Loop& loop, std::string name) override {
        handle_ = uvtask::spawn_on(loop, std::move(task_), std::move(name));
        // add_done_callback belongs to the loop's thread: the loop takes the watch in after the
        // task's start (one inbox, in order), so the watch is in place before the task can end
        // (or finds it ended and runs at once).
        try {
            std::shared_ptr<CallOf> self = std::static_pointer_cast<CallOf>(shared_from_this());
            loop.post([self = std::move(self)]() noexcept { self->watch(); });
        } catch (...) {
            handle_.cancel("uvtask: the call could not be started");  // it ends unobserved
            handle_ = {};
            throw;
        }
    }

    bool cancel(std::string message) override {
        return handle_.valid() && handle_.cancel(std::move(message), CancelKind::user);
    }

    [[nodiscard]] PyObject* take_value() noexcept override {
        try {
            if constexpr (std::is_void_v<T>) {
                return pybind11::none().release().ptr();
            } else {
                pybind11::object value = pybind11::cast(std::move(*value_));
                value_.reset();
                return value.release().ptr();
            }
        } catch (pybind11::error_already_set& error) {
            error.restore();
        } catch (const std::exception& error) {
            PyErr_SetString(PyExc_RuntimeError, error.what());
        }
        return nullptr;
    }

private:
    using Stored = std::conditional_t<std::is_void_v<T>, bool, T>;

    void watch() noexcept {
        try {
            std::shared_ptr<CallOf> self = std::static_pointer_cast<CallOf>(shared_from_this());
            handle_.add_done_callback([self = std::move(self)](const TaskHandle<T>& handle) {
                self->finish_from(handle, [&](const TaskHandle<T>& done) {
                    if constexpr (std::is_void_v<T>) {
                        self->value_.emplace(true);
                    } else {
                        self->value_.emplace(done.result());
                    }
                });
            });
        } catch (...) {
            // Out of memory before the watch was in place: the awaiter must not wait forever.
            handle_.cancel("uvtask: could not watch the task (out of memory)");
            end = End::failed;
            error = std::current_exception();
            publish();
        }
    }

    Task<T> task_;
    TaskHandle<T> handle_;
    std::optional<Stored> value_;
};

template <class X>
inline constexpr bool is_python_object_v =
    std::is_base_of_v<pybind11::handle, std::remove_cvref_t<X>> ||
    std::is_same_v<std::remove_cvref_t<X>, PyObject*>;

}  // namespace detail

/// Exposes `function` to Python as `module.name`: calling it converts the arguments (a
/// `TypeError` for a wrong type, as for any pybind11 function) and returns an awaitable; awaiting
/// it from asyncio runs `function(args…)` as a native task on uvtask's loop thread and delivers
/// its result — converted by pybind11 — to the awaiting asyncio task.
///
/// Completes when: at once; the returned awaitable completes when the native task has ended.
/// Suspension point: no (awaiting the result is one, on the asyncio side).
/// On cancel: cancelling the awaiting asyncio task (`task.cancel(msg)`) cancels the native task
/// with `msg` (kind user); the awaiter gets `CancelledError(msg)` only after the native task has
/// ended. A native task that refuses the cancel and returns a value delivers the value.
/// Throws: `TypeError` for arguments pybind11 cannot convert. The native task's exceptions are
/// raised at the `await`: `uvtask::TimeoutError` → `TimeoutError`, `uvtask::IoError` → the
/// `OSError` subclass of its errno, `std::invalid_argument` → `ValueError`, others →
/// `RuntimeError` (docs/python.md).
/// Thread safety: call at module initialisation (with the GIL held).
///
/// `function` takes its parameters by value (they are copied into the coroutine frame, which
/// lives on the loop thread) and neither takes nor returns Python objects: the loop thread never
/// holds the GIL. `extra` is passed to `pybind11::module_::def` (`pybind11::arg("n")`, …).
template <class R, class... Args, class... Extra>
void def(pybind11::module_& module, const char* name, Task<R> (*function)(Args...), const char* doc,
         const Extra&... extra) {
    static_assert(
        (!std::is_reference_v<Args> && ...),
        "uvtask::python::def: take parameters by value (the coroutine outlives the call)");
    static_assert((!std::is_pointer_v<Args> && ...),
                  "uvtask::python::def: take parameters by value, not by pointer");
    static_assert((!detail::is_python_object_v<Args> && ...) && !detail::is_python_object_v<R>,
                  "uvtask::python::def: the loop thread never holds the GIL: use C++ types");
    std::string qualname = pybind11::str(module.attr("__name__")).cast<std::string>() + "." + name;
    module.def(
        name,
        [function, qualname](Args... args) -> pybind11::object {
            auto call = std::make_shared<detail::CallOf<R>>(function(std::move(args)...));
            PyObject* awaitable = detail::make_awaitable(std::move(call), qualname.c_str());
            if (awaitable == nullptr) {
                throw pybind11::error_already_set();
            }
            return pybind11::reinterpret_steal<pybind11::object>(awaitable);
        },
        doc, extra...);
}

}  // namespace uvtask::python
