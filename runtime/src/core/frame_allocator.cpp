// Per-thread cache of coroutine-frame blocks, by 16-byte size class.
#include "uvtask/detail/frame_allocator.hpp"

#include <array>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define UVTASK_FRAME_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UVTASK_FRAME_CACHE 0
#endif
#endif
#ifndef UVTASK_FRAME_CACHE
#define UVTASK_FRAME_CACHE 1
#endif

namespace uvtask::detail {
namespace {

constexpr std::size_t class_width = 16;
constexpr std::size_t class_count = 128;      // blocks up to 2 KiB are cached
constexpr std::size_t cached_per_class = 1024;  // bound what an idle thread keeps

struct FreeBlock {
    FreeBlock* next;
};

// Why a class with a destructor: blocks still cached when the thread exits go back to the heap.
class FrameCache {
public:
    FrameCache() = default;
    FrameCache(const FrameCache&) = delete;
    FrameCache& operator=(const FrameCache&) = delete;
    ~FrameCache() {
        for (auto& list : lists_) {
            while (list.head != nullptr) {
                FreeBlock* block = list.head;
                list.head = block->next;
                ::operator delete(block);
            }
        }
    }

    void* take(std::size_t cls) noexcept {
        List& list = lists_[cls];
        FreeBlock* block = list.head;
        if (block != nullptr) {
            list.head = block->next;
            --list.count;
        }
        return block;
    }

    bool give(std::size_t cls, void* raw) noexcept {
        List& list = lists_[cls];
        if (list.count >= cached_per_class) {
            return false;
        }
        auto* block = static_cast<FreeBlock*>(raw);
        block->next = list.head;
        list.head = block;
        ++list.count;
        return true;
    }

private:
    struct List {
        FreeBlock* head = nullptr;
        std::size_t count = 0;
    };
    std::array<List, class_count> lists_{};
};

[[maybe_unused]] FrameCache& cache() noexcept {
    thread_local FrameCache instance;
    return instance;
}

[[maybe_unused]] constexpr std::size_t class_of(std::size_t size) noexcept {
    return (size + class_width - 1) / class_width;
}

}  // namespace

void* allocate_frame(std::size_t size) {
#if UVTASK_FRAME_CACHE
    const std::size_t cls = class_of(size);
    if (cls < class_count) {
        if (void* block = cache().take(cls)) {
            return block;
        }
        return ::operator new(cls * class_width);
    }
#endif
    return ::operator new(size);
}

void deallocate_frame(void* block, std::size_t size) noexcept {
#if UVTASK_FRAME_CACHE
    const std::size_t cls = class_of(size);
    if (cls < class_count && cache().give(cls, block)) {
        return;
    }
#else
    (void)size;
#endif
    ::operator delete(block);
}

}  // namespace uvtask::detail
