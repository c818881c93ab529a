// Test support: make the next operator new calls fail, to prove out-of-memory paths. Include in
// exactly one translation unit of a test executable: it replaces the global operator new.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace uvtask::testing {

/// The number of operator new calls still to succeed before the next one fails; negative: none
/// fails.
inline std::atomic<long> allocations_before_failure{-1};
/// How many operator new calls were made to fail.
inline std::atomic<long> failed_allocations{0};

/// While alive, operator new fails after `succeed` more successful calls, `fail` times in a row
/// (then allocations succeed again).
class FailingAllocations {
public:
    explicit FailingAllocations(long succeed = 0, long fail = 1) noexcept {
        failures_left_.store(fail, std::memory_order_relaxed);
        allocations_before_failure.store(succeed, std::memory_order_relaxed);
    }
    FailingAllocations(const FailingAllocations&) = delete;
    FailingAllocations& operator=(const FailingAllocations&) = delete;
    ~FailingAllocations() { allocations_before_failure.store(-1, std::memory_order_relaxed); }

    static inline std::atomic<long> failures_left_{0};
};

inline void* counted_allocation(std::size_t size) {
    long left = allocations_before_failure.load(std::memory_order_relaxed);
    if (left == 0) {
        if (FailingAllocations::failures_left_.fetch_sub(1, std::memory_order_relaxed) > 0) {
            failed_allocations.fetch_add(1, std::memory_order_relaxed);
            throw std::bad_alloc();
        }
        allocations_before_failure.store(-1, std::memory_order_relaxed);
    } else if (left > 0) {
        allocations_before_failure.store(left - 1, std::memory_order_relaxed);
    }
    void* p = std::malloc(size == 0 ? 1 : size);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

}  // namespace uvtask::testing

void* operator new(std::size_t size) { return uvtask::testing::counted_allocation(size); }
void* operator new[](std::size_t size) { return uvtask::testing::counted_allocation(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
