// The monotonic clock the scheduler's budgets are measured in.
#include <chrono>
#include <cstdint>

#include "uvtask/detail/task_host.hpp"

namespace uvtask::detail {

std::uint64_t monotonic_ns() noexcept {
    return static_cast<std::uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch() / std::chrono::nanoseconds(1));
}

}  // namespace uvtask::detail
