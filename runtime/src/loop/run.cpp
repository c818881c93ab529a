// run(): drive a fresh loop until main ends, then shut down cleanly.
#include "uvtask/run.hpp"

#include <csignal>
#include <memory>

#include <uv.h>

#include "loop/run_support.hpp"
#include "uvtask/errors.hpp"

namespace uvtask::detail {

void SigintWatch::start(LoopCore& loop_core, TaskState& main_task) noexcept {
    main = &main_task;
    core = &loop_core;
    handle.data = this;
    uv_signal_init(loop_core.native(), &handle);
    uv_signal_start(&handle, &SigintWatch::on_signal, SIGINT);
    uv_unref(reinterpret_cast<uv_handle_t*>(&handle));
}

void SigintWatch::on_signal(uv_signal_t* handle, int signum) noexcept {
    auto* self = static_cast<SigintWatch*>(handle->data);
    if (self->seen) {
        uv_signal_stop(handle);
        std::signal(signum, SIG_DFL);
        std::raise(signum);
        return;
    }
    self->seen = true;
    self->core->note_sigint();
    try {
        self->main->request_cancel("SIGINT", CancelKind::signal);
    } catch (...) {
        // out of memory recording the message: nothing better to do than carry on
    }
}

namespace {

void on_main_done_stop(uv_loop_t* loop) noexcept { uv_stop(loop); }

}  // namespace

void check_run_options(const RunOptions& options) {
    if (options.shutdown_grace.count() < 0) {
        throw InvalidDurationError("run(): RunOptions::shutdown_grace is negative");
    }
    if (options.time_slice.count() < 0) {
        throw InvalidDurationError("run(): RunOptions::time_slice is negative");
    }
    if (options.slow_step_threshold.count() < 0) {
        throw InvalidDurationError("run(): RunOptions::slow_step_threshold is negative");
    }
    if (options.virtual_time_io_idle.count() < 0) {
        throw InvalidDurationError("run(): RunOptions::virtual_time_io_idle is negative");
    }
}

void run_main(Loop& loop, TaskState& main, const RunOptions& options) {
    LoopCore& core = LoopAccess::core(loop);
    uv_loop_t* uv = core.native();
    if (options.exception_handler) {
        core.set_exception_handler(options.exception_handler);
    }
    loop.set_time_slice(options.time_slice);
    loop.set_slow_step_threshold(options.slow_step_threshold);
    loop.set_report_swallowed_cancels(options.report_swallowed_cancels);
    loop.set_schedule_seed(options.schedule_seed);
    if (options.cancel_latency_stats) {
        loop.set_cancel_latency_stats(true);
    }
    if (options.virtual_time) {
        loop.set_virtual_time(true, options.virtual_time_io_idle);
    }
    if (options.dump_tasks_on_sigusr1) {
        loop.set_dump_tasks_on_sigusr1(true);
    }

    // The watch lives until the loop is closed below (its handle is closed by close_owned_loop).
    auto sigint = std::make_unique<SigintWatch>();
    if (options.handle_sigint) {
        sigint->start(core, main);
    }
    main.add_done_callback([uv] { on_main_done_stop(uv); });

    // Until main ends. When the loop runs out of work (nothing libuv watches, nothing ready),
    // main can still finish if another thread may wake the loop (docs in run.hpp): block in the
    // loop's wake-up handle until it does. Otherwise nothing can ever wake main: a deadlock.
    bool deadlock = false;
    while (!main.done()) {
        const int alive = uv_run(uv, UV_RUN_DEFAULT);
        if (main.done() || alive != 0 || core.has_ready_tasks()) {
            continue;
        }
        if (!core.may_be_woken_from_elsewhere(&main)) {
            deadlock = true;
            break;
        }
        core.hold_alive();
        uv_run(uv, UV_RUN_ONCE);
        core.release_alive();
    }

    cancel_and_await_leftovers(core, options.shutdown_grace);
    core.report_seed_if_failed(main);
    LoopAccess::tear_down(loop);
    if (deadlock) {
        throw InvalidStateError(
            "run(): the main task can never finish: it waits on nothing the loop can complete");
    }
}

void cancel_and_await_leftovers(LoopCore& core, std::chrono::milliseconds grace_period,
                                GraceGroup* group) noexcept {
    uv_loop_t* uv = core.native();
    // Cancel what is left (again for tasks spawned meanwhile), wait up to the grace.
    const std::uint64_t grace_end =
        monotonic_ns() +
        static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(grace_period).count());
    // On the heap: the handle is freed by its close callback, on a later uv_run.
    std::unique_ptr<uv_timer_t> grace;
    try {
        grace = std::make_unique<uv_timer_t>();
    } catch (...) {
        return;  // out of memory: no grace; teardown destroys what is left (each reported)
    }
    uv_timer_init(uv, grace.get());
    for (std::uint64_t now = monotonic_ns(); now < grace_end; now = monotonic_ns()) {
        const bool idle = core.live_tasks() == 0;
        const bool others_busy = group != nullptr && group->others_busy(idle);
        if (idle && !others_busy) {
            break;
        }
        try {
            core.cancel_all("loop shutdown", CancelKind::shutdown, /*once=*/true);
        } catch (...) {
            // out of memory listing the tasks: the grace runs out and teardown destroys them
        }
        // Wake up at the end of the grace. Re-armed each turn from the real clock: uv_now() lags
        // and counts whole milliseconds, so a timer armed once can fire before `grace_end` and
        // leave the next uv_run waiting on the leftover tasks' own timers (a 10 s sleep).
        uv_update_time(uv);
        uv_timer_start(
            grace.get(), [](uv_timer_t*) noexcept {}, (grace_end - now + 999'999) / 1'000'000, 0);
        uv_run(uv, UV_RUN_ONCE);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(grace.release()), [](uv_handle_t* handle) noexcept {
        std::unique_ptr<uv_timer_t> owner(reinterpret_cast<uv_timer_t*>(handle));
    });
}

}  // namespace uvtask::detail
