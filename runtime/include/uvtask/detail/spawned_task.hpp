// uvtask internals — the typed state of a spawned task: where its result lives.
#pragma once

#include <coroutine>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <type_traits>

#include "uvtask/errors.hpp"
#include "uvtask/outcome.hpp"
#include "uvtask/task.hpp"
#include "uvtask/detail/frame_allocator.hpp"
#include "uvtask/detail/loop_core.hpp"
#include "uvtask/detail/task_state.hpp"

namespace uvtask::detail {

template <class T>
class SpawnedTask final : public TaskState {
public:
    /// Allocates a state with one reference (the loop's).
    static SpawnedTask* create(LoopCore& loop, std::string name) {
        void* memory = allocate();
        try {
            return ::new (memory) SpawnedTask(loop, loop.next_task_number(), std::move(name));
        } catch (...) {
            deallocate(memory);
            throw;
        }
    }

    /// The result after a successful end; rethrows the failure or the cancellation otherwise.
    /// `InvalidStateError` before the task is done.
    decltype(auto) value_or_throw() {
        throw_unless_value();
        if constexpr (std::is_void_v<T>) {
            return;
        } else {
            return static_cast<const T&>(*value_);
        }
    }

    /// For a join: a copy of the result (or the value moved out, for a move-only T).
    T join_result() {
        throw_unless_value();
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (std::is_copy_constructible_v<T>) {
            return *value_;
        } else {
            if (!value_) {
                throw InvalidStateError("task '" + name() +
                                        "': its move-only result was already taken by a join");
            }
            T out = std::move(*value_);
            value_.reset();
            return out;
        }
    }

    void throw_unless_value() {
        if (!done()) {
            throw InvalidStateError("task '" + name() + "' is not done yet");
        }
        if (ending() == Ending::cancelled) {
            throw_cancelled_ending();
        }
        if (ending() != Ending::value) {
            std::rethrow_exception(take_exception());
        }
    }

    /// For a `nothrow` join (done): the result (as `join_result`), the cancellation as a value,
    /// or the failure; no throw of a cancellation (docs/zero-exception.md). Throws
    /// `std::bad_alloc` only (copying a cancel message).
    Outcome<T> join_outcome() {
        if (ending() == Ending::cancelled) {
            return Outcome<T>::cancelled(ending_cancellation());
        }
        if (ending() == Ending::failed) {
            return Outcome<T>::failed(take_exception());
        }
        try {
            if constexpr (std::is_void_v<T>) {
                return Outcome<T>();
            } else {
                return Outcome<T>(join_result());
            }
        } catch (...) {
            return Outcome<T>::failed(std::current_exception());  // a move-only result taken
        }
    }

private:
    using Storage = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

    SpawnedTask(LoopCore& loop, std::uint64_t number, std::string name)
        : TaskState(loop, number, std::move(name)) {}
    ~SpawnedTask() = default;

    void collect_value(std::coroutine_handle<> frame) noexcept override {
        if constexpr (!std::is_void_v<T>) {
            auto typed = std::coroutine_handle<TaskPromise<T>>::from_address(frame.address());
            try {
                value_.emplace(typed.promise().take_value());
            } catch (...) {
                fail_with(std::current_exception());
            }
        } else {
            (void)frame;
        }
    }

    void destroy_self() noexcept override {
        this->~SpawnedTask();
        deallocate(this);
    }

    // The state holds the result in place: an over-aligned `T` (alignas beyond what `new`
    // guarantees) needs an aligned block, which the frame cache's blocks are not.
    static constexpr bool over_aligned = alignof(Storage) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;
    [[nodiscard]] static void* allocate() {
        if constexpr (over_aligned) {
            return ::operator new (sizeof(SpawnedTask), std::align_val_t{alignof(SpawnedTask)});
        } else {
            return allocate_frame(sizeof(SpawnedTask));
        }
    }
    static void deallocate(void* memory) noexcept {
        if constexpr (over_aligned) {
            ::operator delete (memory, std::align_val_t{alignof(SpawnedTask)});
        } else {
            deallocate_frame(memory, sizeof(SpawnedTask));
        }
    }

    Storage value_{};
};

}  // namespace uvtask::detail
