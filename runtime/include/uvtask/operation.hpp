// uvtask — Operation<T>: the base of a user-written awaitable over a library uvtask does not know
// (a database client, curl, a device), with the guarantees of the built-in ones.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <coroutine>
#include <exception>
#include <optional>
#include <string>
#include <typeinfo>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/detail/suspension_point.hpp"

namespace uvtask {

/// The base of an awaitable that wraps an operation of another library. Derive from it,
/// implement `start()` (begin the operation) and `stop()` (ask it to stop), and call exactly one
/// of `complete(value)`, `fail(error)` or `cancelled()` when the operation has ended — from the
/// loop's thread (from another library's thread, `Loop::post` the call). Every uvtask awaitable
/// follows the same protocol (docs/writing-awaitables.md):
///
/// - **A suspension point.** A cancel already pending when the task awaits is thrown at once and
///   `start()` is never called. The operation's object lives in the awaiting coroutine's frame
///   (`co_await MyOperation{…}`); it is neither copied nor moved.
/// - **Resume only from the ready queue.** `complete`/`fail`/`cancelled` hand the task to the
///   loop's ready queue; it resumes on a later turn, never inside the call — so nothing
///   re-enters the coroutine while another library is inside a callback.
/// - **Atomic completion, one delivery.** When the task is cancelled while the operation is
///   under way, `stop()` runs on the loop's thread (once). The operation then ends either way:
///   call `cancelled()` if it was stopped before having any effect (the task gets
///   `CancelledError`, the request is consumed), or `complete(value)` if it completed anyway
///   (the value is delivered; the cancel waits for the task's next suspension point). Never
///   both. If the operation completed before the cancel reached it, `stop()` is not called.
/// - **Memory.** Whatever the other library still uses belongs to it until it said it is done:
///   `stop()` asks; the operation ends only when the library confirms (the task does not resume
///   before). Call the ending function exactly once.
/// - **The loop stays alive.** While an operation is under way the loop counts as busy (its end
///   may come from another thread, through `Loop::post`), so `run()` never declares the task
///   stuck meanwhile.
///
/// `T` is what `co_await` returns (`void` allowed). Lifetime: the object lives in the awaiting
/// frame for the whole `co_await`; not copyable or movable. Thread safety: loop thread only.
template <class T = void>
class Operation : private detail::SuspensionPoint {
public:
    /// An operation not yet awaited.
    /// At once; not a suspension point; throws nothing; any thread.
    Operation() noexcept = default;
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;
    /// Destroyed while under way (the loop tearing a suspended task down): stops counting the
    /// loop as busy; the derived class must have released the library's resources.
    /// At once; throws nothing; loop thread only.
    virtual ~Operation() {
        if (status_ == Status::waiting) {
            loop().release_alive();  // destroyed under way: the loop tears the task down
        }
    }

    /// Always false: awaiting is a suspension point. Throws nothing.
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    /// Starts the operation (`start()`) unless a cancel is pending or there is no task; if
    /// `start()` throws, does not suspend and `await_resume` rethrows. Throws nothing.
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept {
        if (!begin()) {
            return false;
        }
        park(resume_at, &on_cancel_hook, wait_info);
        loop().hold_alive();  // its end may come from another thread: the loop is not idle
        try {
            start();
        } catch (...) {
            if (status_ != Status::waiting) {
                // start() ended the operation, then threw: the ending stands (the task is queued
                // to resume with it, and resuming it here too would run it twice); the late
                // exception goes to the loop's exception handler.
                task_->report_error("Operation::start() threw after ending the operation",
                                    std::current_exception());
                return true;
            }
            // start() threw: the operation never began. Do not suspend; rethrow it in resume.
            error_ = std::current_exception();
            task_->leave_suspension();
            status_ = Status::completed;
            loop().release_alive();
            return false;
        }
        return true;
    }
    /// The value given to `complete`, or the error given to `fail` rethrown, or
    /// `CancelledError` if the operation was `cancelled()` (or a cancel was pending at the
    /// start); what `start()` threw; `InvalidStateError` outside a uvtask task.
    ///
    /// Completes when (the whole `co_await`): one of `complete`/`fail`/`cancelled` was called
    /// and the task's turn in the ready queue came.
    /// Suspension point: yes. On cancel: `stop()` runs once; see the class comment.
    /// Thread safety: loop thread only.
    T await_resume() {
        finish("Operation");
        if (error_) {
            std::rethrow_exception(error_);
        }
        if constexpr (!std::is_void_v<T>) {
            return std::move(*value_);
        }
    }
    /// The `nothrow()` form of `await_resume` (docs/zero-exception.md): the same ending as an
    /// `Outcome`, a cancellation with no throw. Throws nothing; loop thread only.
    Outcome<T> await_resume_outcome() noexcept {
        // Not resume_outcome(*this): the base is private, so the base's static helper may not
        // reach back into it through `Operation&`.
        return outcome_or<T>([this]() -> T { return await_resume(); });
    }

protected:
    /// Begins the operation: called once, on the loop's thread, as the task suspends. It may
    /// end the operation at once (call `complete`, `fail` or `cancelled` from inside); the task
    /// still resumes from the ready queue. An exception thrown here is what `co_await` throws
    /// (the operation is taken as never started). An exception thrown after one of the ending
    /// functions was called does not undo that ending: the task resumes with it, and the
    /// exception goes to the loop's exception handler.
    virtual void start() = 0;
    /// The task was cancelled while the operation is under way: ask the library to stop. Called
    /// at most once, on the loop's thread; must not throw. The operation still has to end with
    /// `cancelled()` (it was stopped) or `complete`/`fail` (it ended anyway).
    virtual void stop() noexcept = 0;

    /// The operation ended with `value`: the task resumes with it (even if it was cancelled
    /// meanwhile: atomic completion). A second ending call is ignored. At once (the task resumes
    /// later, from the ready queue); not a suspension point; throws only what constructing the
    /// `T` throws; loop thread, once.
    template <class U = T>
        requires(!std::is_void_v<T> && std::is_constructible_v<T, U &&>)
    void complete(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(value));
        end(Status::completed);
    }
    /// The operation ended (for `Operation<void>`). As `complete(value)`; throws nothing.
    void complete() noexcept
        requires std::is_void_v<T>
    {
        end(Status::completed);
    }
    /// The operation failed: `co_await` rethrows `error`. At once; throws nothing; loop thread,
    /// once.
    void fail(std::exception_ptr error) noexcept {
        error_ = std::move(error);
        end(Status::completed);
    }
    /// The operation was stopped before it had any effect: the task gets `CancelledError`
    /// (the request it was cancelled with). At once; throws nothing; loop thread, once, after
    /// `stop()`.
    void cancelled() noexcept { end(Status::cancelled); }

    /// What the operation waits on, in words, for `Loop::tasks()` and `Loop::dump_tasks()`
    /// ("operation <describe()>"): override it to name the request ("query 'SELECT …' on db
    /// 'orders'"). The default is the derived class's type name.
    ///
    /// Completes when: at once. Suspension point: no. On cancel: not cancellable.
    /// Throws: `std::bad_alloc` (the caller reports the wait without its description).
    /// Thread safety: loop thread only, called only while the operation is under way.
    [[nodiscard]] virtual std::string describe() const {
        return detail::readable_type_name(typeid(*this));
    }

    /// True once `stop()` was called. At once; throws nothing; loop thread only.
    [[nodiscard]] bool stop_requested() const noexcept { return stop_requested_; }
    /// The libuv loop of the awaiting task (valid from `start()` on): where libuv-based
    /// operations belong. At once; throws nothing; loop thread only.
    [[nodiscard]] uv_loop_t* native_loop() const noexcept { return loop().native(); }

private:
    void end(Status status) noexcept {
        if (status_ == Status::waiting) {
            loop().release_alive();
            wake(status);
        }
    }
    static void on_cancel_hook(detail::Suspension* self) noexcept {
        auto* op = static_cast<Operation*>(static_cast<detail::SuspensionPoint*>(self));
        if (op->stop_requested_ || op->status_ != Status::waiting) {
            return;
        }
        op->stop_requested_ = true;
        op->stop();
    }

    static void describe_hook(const detail::Suspension& self, std::string& out) {
        out += ' ';
        out += static_cast<const Operation&>(static_cast<const detail::SuspensionPoint&>(self))
                   .describe();
    }
    static constexpr detail::WaitInfo wait_info{"operation", &describe_hook};

    std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> value_{};
    std::exception_ptr error_;
    bool stop_requested_ = false;
};

}  // namespace uvtask
