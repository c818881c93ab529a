// uvtask internals — the lock of a task's few cross-thread fields.
#pragma once

#include <atomic>
#include <thread>

namespace uvtask::detail {

/// A lock for the few fields another thread may touch (`cancel()` from any thread). Uncontended
/// in practice: one atomic exchange. Contended, it spins politely (the CPU's pause hint) for a
/// short while, then yields the CPU: on a machine with as many threads as cores the holder may
/// have been preempted, and spinning through its time slice is what made the tail of a cancel
/// from another thread (S5 in bench/PROTOCOL.md) long.
class SpinLock {
public:
    void lock() noexcept {
        // Acquire: the holder's writes, released by unlock(), are visible once we own the flag.
        // Relaxed while waiting: only the test_and_set that wins needs to order anything.
        for (unsigned spins = 0; flag_.test_and_set(std::memory_order_acquire);) {
            while (flag_.test(std::memory_order_relaxed)) {
                if (++spins < spins_before_yield) {
                    pause();
                } else {
                    std::this_thread::yield();
                }
            }
        }
    }
    void unlock() noexcept { flag_.clear(std::memory_order_release); }

private:
    static constexpr unsigned spins_before_yield = 128;
    static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        asm volatile("yield");
#endif
    }
    std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

}  // namespace uvtask::detail
