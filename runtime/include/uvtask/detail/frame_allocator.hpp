// uvtask internals — recycling allocator for coroutine frames and task states.
#pragma once

#include <cstddef>

namespace uvtask::detail {

/// Allocates `size` bytes for a coroutine frame or task state. Blocks are recycled through a
/// per-thread cache of size classes (first-touch page faults are half of a spawn's
/// cost elsewhere). Each block comes from `::operator new`, so a block freed on another thread
/// is safe. Under AddressSanitizer the cache is bypassed so use-after-free stays detectable.
/// Throws `std::bad_alloc`.
[[nodiscard]] void* allocate_frame(std::size_t size);

/// Returns a block from `allocate_frame` of the same `size`. Never throws.
void deallocate_frame(void* block, std::size_t size) noexcept;

}  // namespace uvtask::detail
