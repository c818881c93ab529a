// LoopGroup: n loops on n threads, started and stopped together.
#include "uvtask/loop_group.hpp"

#include <uv.h>

#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include "loop/run_support.hpp"
#include "uvtask/errors.hpp"

namespace uvtask {

/// One loop of the group. `loop` is built, run and torn down on `thread`; the torn-down Loop
/// object lives on with the group (it refuses work), and is freed by it.
struct LoopGroup::Slot final : detail::GraceGroup {
    LoopGroup* group = nullptr;
    std::thread thread;
    std::unique_ptr<Loop> loop;     // set by the thread before `ready`
    std::exception_ptr failed;      // the thread could not start its loop (under mutex_)
    bool ready = false;             // under mutex_
    std::atomic<bool> stop{false};  // the loop leaves its run and shuts down
    bool announced_idle = false;    // loop thread: counted out of `busy_`
    std::unique_ptr<detail::SigintWatch> sigint;  // loop 0 during run(), until its teardown

    bool others_busy(bool idle_here) noexcept override {
        if (idle_here && !announced_idle) {
            announced_idle = true;
            // Acq_rel: the loop that brings the count to 0 sees the others' decrements; the
            // others re-read it after the poke below.
            if (group->busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                for (const auto& slot : group->slots_) {
                    if (slot.get() != this && slot->loop != nullptr) {
                        detail::LoopAccess::core(*slot->loop).poke();
                    }
                }
            }
        }
        return group->busy_.load(std::memory_order_acquire) > 0;
    }
};

namespace {
std::size_t cores() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}
}  // namespace

LoopGroup::LoopGroup() : LoopGroup(cores()) {}

LoopGroup::LoopGroup(std::size_t size, RunOptions options) : options_(std::move(options)) {
    detail::check_run_options(options_);
    if (size == 0) {
        throw std::invalid_argument("LoopGroup: the size is 0 (LoopGroup() has one loop per core)");
    }
    start(size);
}

void LoopGroup::start(std::size_t size) {
    slots_.reserve(size);
    for (std::size_t i = 0; i < size; ++i) {
        slots_.push_back(std::make_unique<Slot>());
        slots_.back()->group = this;
    }
    std::exception_ptr failure;
    std::size_t started = 0;
    try {
        for (; started < size; ++started) {
            // Counted before the thread starts: it may fail and uncount itself at once.
            busy_.fetch_add(1, std::memory_order_relaxed);  // relaxed: the thread's start orders it
            slots_[started]->thread = std::thread([this, started] { body(started); });
        }
    } catch (...) {
        busy_.fetch_sub(1, std::memory_order_relaxed);  // that thread never started
        failure = std::current_exception();
    }
    {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [this] {
            for (const auto& slot : slots_) {
                if (slot->thread.joinable() && !slot->ready && !slot->failed) {
                    return false;
                }
            }
            return true;
        });
        for (const auto& slot : slots_) {
            if (!failure && slot->failed) {
                failure = slot->failed;
            }
        }
    }
    if (failure) {
        stop_and_join();
        std::rethrow_exception(failure);
    }
}

void LoopGroup::body(std::size_t index) noexcept {
    Slot& slot = *slots_[index];
    try {
        slot.loop = std::make_unique<Loop>();
        if (options_.exception_handler) {
            slot.loop->set_exception_handler([this](const ExceptionContext& context) {
                std::lock_guard<std::mutex> guard(handler_mutex_);
                options_.exception_handler(context);
            });
        }
        slot.loop->set_time_slice(options_.time_slice);
    } catch (...) {
        // On its own thread.
        slot.loop.reset();
        busy_.fetch_sub(1, std::memory_order_acq_rel);  // it has no task to wait for
        std::lock_guard<std::mutex> guard(mutex_);
        slot.failed = std::current_exception();
        ++exited_;
        changed_.notify_all();
        return;
    }
    detail::LoopCore& core = detail::LoopAccess::core(*slot.loop);
    core.hold_alive();  // wait for work from other threads when there is none, until stopped
    {
        std::lock_guard<std::mutex> guard(mutex_);
        slot.ready = true;
    }
    changed_.notify_all();

    // Acquire: pairs with request_stop()'s release store; its poke ends the uv_run in progress.
    while (!slot.stop.load(std::memory_order_acquire)) {
        uv_run(core.native(), UV_RUN_ONCE);
    }
    core.release_alive();  // the grace below runs until the tasks end, not until a wake-up
    detail::cancel_and_await_leftovers(core, options_.shutdown_grace, &slot);
    detail::LoopAccess::tear_down(*slot.loop);  // the Loop object stays, refusing work

    std::lock_guard<std::mutex> guard(mutex_);
    ++exited_;
    changed_.notify_all();
}

LoopGroup::~LoopGroup() {
    if (on_own_thread()) {
        default_exception_handler(
            {"a LoopGroup was destroyed on one of its own threads (it would wait for itself); "
             "calling std::terminate()",
             {},
             nullptr});
        std::terminate();
    }
    stop_and_join();
}

Loop& LoopGroup::loop(std::size_t index) const {
    if (index >= slots_.size()) {
        throw std::out_of_range("LoopGroup::loop(" + std::to_string(index) + "): the group has " +
                                std::to_string(slots_.size()) + " loops");
    }
    return *slots_[index]->loop;
}

Loop& LoopGroup::least_loaded() const {
    const std::size_t n = slots_.size();
    // Relaxed: a starting point spreading ties; ordered with nothing.
    const std::size_t start = next_.fetch_add(1, std::memory_order_relaxed) % n;
    std::size_t best = start;
    std::size_t best_load = detail::LoopAccess::core(*slots_[start]->loop).load();
    for (std::size_t k = 1; k < n && best_load > 0; ++k) {
        const std::size_t i = (start + k) % n;
        const std::size_t load = detail::LoopAccess::core(*slots_[i]->loop).load();
        if (load < best_load) {
            best = i;
            best_load = load;
        }
    }
    return *slots_[best]->loop;
}

void LoopGroup::request_stop() noexcept {
    stop_.store(true, std::memory_order_release);
    for (const auto& slot : slots_) {
        if (slot->loop != nullptr) {
            slot->stop.store(true, std::memory_order_release);
            detail::LoopAccess::core(*slot->loop).poke();
        }
    }
}

bool LoopGroup::stop_requested() const noexcept { return stop_.load(std::memory_order_acquire); }

void LoopGroup::shutdown() {
    if (on_own_thread()) {
        throw InvalidStateError(
            "LoopGroup::shutdown() on one of the group's own threads would wait for itself "
            "(use request_stop())");
    }
    stop_and_join();
}

void LoopGroup::stop_and_join() noexcept {
    request_stop();
    for (const auto& slot : slots_) {
        if (slot->thread.joinable()) {
            slot->thread.join();
        }
    }
}

bool LoopGroup::on_own_thread() const noexcept {
    const std::thread::id me = std::this_thread::get_id();
    for (const auto& slot : slots_) {
        if (slot->thread.get_id() == me) {
            return true;
        }
    }
    return false;
}

namespace detail {

void group_run_main(LoopGroup& group, TaskState& main) {
    if (group.on_own_thread()) {
        main.destroy_pending("LoopGroup::run() was called on one of the group's threads");
        throw InvalidStateError(
            "LoopGroup::run() on one of the group's own threads would wait for itself");
    }
    LoopGroup::Slot& first = *group.slots_[0];
    const bool handle_sigint = group.options_.handle_sigint;
    // One call hands main over and starts its SIGINT watch, so that no SIGINT main raises
    // finds the process without it.
    try {
        group.loop(0).post([&group, &first, &main, handle_sigint] {
            LoopCore& core = LoopAccess::core(*first.loop);
            core.adopt_new_task(&main);  // even while closing: teardown then destroys it
            try {
                main.add_done_callback([&group] {
                    std::lock_guard<std::mutex> guard(group.mutex_);
                    group.changed_.notify_all();
                });
                if (handle_sigint && !core.closed()) {
                    first.sigint = std::make_unique<SigintWatch>();
                    first.sigint->start(core, main);
                }
            } catch (...) {
                group.request_stop();  // out of memory: main is cancelled with the rest
                throw;                 // and reported
            }
        });
    } catch (const InvalidStateError&) {
        main.destroy_pending("the LoopGroup is stopped");  // never queued: end it here
        throw InvalidStateError("LoopGroup::run(): the group is stopped");
    } catch (...) {
        main.destroy_pending("LoopGroup::run() could not start it");
        throw;
    }
    {
        std::unique_lock<std::mutex> lock(group.mutex_);
        // Main is done, or destroyed with its loop (its callbacks dropped): every thread ended.
        group.changed_.wait(lock, [&] { return main.done() || group.exited_ == group.size(); });
    }
    group.stop_and_join();
}

}  // namespace detail

}  // namespace uvtask
