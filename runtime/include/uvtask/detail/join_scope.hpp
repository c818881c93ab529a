// uvtask internals — the scope of gather() and race(): spawn or adopt the tasks, watch them,
// cancel the rest when the outcome is known, wait for all.
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/spawn.hpp"
#include "uvtask/task.hpp"
#include "uvtask/task_handle.hpp"
#include "uvtask/detail/child_set.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

template <class T>
TaskHandle<T> to_handle(Task<T>&& task) {
    return spawn(std::move(task));
}
template <class T>
TaskHandle<T> to_handle(TaskHandle<T>&& handle) noexcept {
    return std::move(handle);
}

/// What gather() and race() share. `race` picks the first task to end with a value or a failure
/// (not a cancellation); `gather` stops at the first failure (a task ending cancelled without the
/// scope asking counts as one, asyncio).
class JoinScope {
public:
    enum class Mode : unsigned char { gather, race };
    static constexpr std::size_t none = static_cast<std::size_t>(-1);

    /// Binds to the current task; `InvalidStateError` outside one.
    JoinScope(Mode mode, const char* operation);
    JoinScope(const JoinScope&) = delete;
    JoinScope& operator=(const JoinScope&) = delete;

    /// Makes `item` a watched child (spawning a Task) into `out`. Once a start failed, later items
    /// are not started (a Task is destroyed unrun). Never throws: a failure is recorded, the
    /// children cancelled, and `conclude` rethrows it after they ended.
    template <class A>
    void start(TaskHandle<typename std::remove_cvref_t<A>::value_type>& out, A&& item,
               std::size_t index) noexcept {
        if (start_error_) {
            return;
        }
        try {
            out = to_handle(std::forward<A>(item));
            if (!out.valid()) {
                throw_empty_handle();
            }
            watch(*detail::state_of(out), index);
        } catch (...) {
            if (out.valid() && std::is_same_v<std::remove_cvref_t<A>,
                                              Task<typename std::remove_cvref_t<A>::value_type>>) {
                out.cancel({}, CancelKind::parent);  // spawned but not watched: never runs
            }
            start_failed(std::current_exception());
        }
    }
    /// Waits for every child (an outer cancel is passed on to them; see AllDoneAwaiter).
    [[nodiscard]] AllDoneAwaiter wait_all() noexcept { return children_.wait_all(); }
    /// What the scope ends with: an index (race) and the ending to pass on without a throw
    /// (docs/zero-exception.md), if any.
    struct Conclusion {
        std::size_t index;
        std::optional<Propagation> ending;
    };
    /// After the wait. gather: ends with the start error or the first failure, or with the
    /// outer `CancelledError` if it reached the wait and `all_values` is false. race: the same
    /// for the start error; the winner's index, or — no winner — the outer `CancelledError` if
    /// it is pending, or `last_cancelled()`.
    [[nodiscard]] Conclusion conclude(bool all_values) noexcept;
    /// race: the index of the last child that ended cancelled.
    [[nodiscard]] std::size_t last_cancelled() const noexcept { return last_cancelled_; }

private:
    void watch(TaskState& child, std::size_t index);
    [[noreturn]] void throw_empty_handle() const;
    void start_failed(std::exception_ptr error) noexcept;
    static void on_child_done(void* owner, TaskState& child, std::size_t index,
                              bool cancelled_by_scope) noexcept;

    ChildSet children_;
    TaskState* parent_;
    const char* operation_;
    std::exception_ptr start_error_;
    std::exception_ptr first_failure_;   // gather
    std::size_t winner_ = none;          // race
    std::size_t last_cancelled_ = none;  // race
    Mode mode_;
};

}  // namespace uvtask::detail
