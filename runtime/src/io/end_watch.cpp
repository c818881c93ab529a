// The loop's watch on thread-pool jobs asked to stop: a uv_prepare_t, started while any is
// watched, polls them right before libuv blocks.
#include "uvtask/detail/end_watch.hpp"

#include <uv.h>

#include <algorithm>
#include <memory>

namespace uvtask::detail {

namespace {

class EndWatchService final : public LoopService {
public:
    explicit EndWatchService(LoopCore& loop) : loop_(loop) {
        uv_prepare_init(loop.native(), &prepare_);  // cannot fail on a valid loop
        prepare_.data = this;
        uv_unref(reinterpret_cast<uv_handle_t*>(&prepare_));
    }

    void watch(EndWatch* node, std::uint64_t spin_ns) noexcept {
        if (node->linked() || closed_) {
            return;
        }
        node->spin_until_ns = monotonic_ns() + spin_ns;
        watched_.push_front(node);
        uv_prepare_start(&prepare_, &on_prepare);
    }

    void unwatch(EndWatch* node) noexcept {
        watched_.remove(node);
        if (watched_.empty() && !closed_) {
            uv_prepare_stop(&prepare_);
        }
    }

    void close() noexcept override {
        closed_ = true;
        while (watched_.pop_front() != nullptr) {
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), [](uv_handle_t* handle) noexcept {
            std::unique_ptr<EndWatchService> owned(static_cast<EndWatchService*>(handle->data));
        });
    }

private:
    static void on_prepare(uv_prepare_t* handle) noexcept {
        static_cast<EndWatchService*>(handle->data)->poll();
    }

    void poll() noexcept {
        for (;;) {
            std::uint64_t spin_until = 0;
            watched_.for_each([&](EndWatch* node) {
                if (node->poll_end(node)) {
                    unwatch(node);
                } else {
                    spin_until = std::max(spin_until, node->spin_until_ns);
                }
            });
            // Spin only while the loop would otherwise block: nothing ready, a fresh watch left.
            if (watched_.empty() || loop_.has_ready_tasks() || monotonic_ns() >= spin_until) {
                return;
            }
        }
    }

    LoopCore& loop_;
    uv_prepare_t prepare_{};
    IntrusiveList<EndWatch, EndWatch> watched_;
    bool closed_ = false;
};

}  // namespace

void watch_end(LoopCore& loop, EndWatch* node, std::uint64_t spin_ns) noexcept {
    try {
        loop.service<EndWatchService>().watch(node, spin_ns);
    } catch (...) {
        // Out of memory (or closing): no early end; libuv's after-work callback still comes.
    }
}

void unwatch_end(LoopCore& loop, EndWatch* node) noexcept {
    if (!node->linked()) {
        return;
    }
    if (EndWatchService* service = loop.find_service<EndWatchService>()) {
        service->unwatch(node);
    }
}

}  // namespace uvtask::detail
