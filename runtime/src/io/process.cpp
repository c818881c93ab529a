// Processes: uv_spawn, a list of waiters woken by the exit callback, and termination
// (signal, grace timer, SIGKILL) when a wait is cancelled or the Process is destroyed; a loop
// service that finishes the termination of every child still running when the loop tears down.
#include "uvtask/process.hpp"

#include <sys/wait.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include "io/process_core.hpp"
#include "io/stream_core.hpp"
#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr WaitInfo process_wait{"Process::wait()"};
}  // namespace

/// A loop's children still running. At teardown (after every task was destroyed, so every
/// Process of a task has sent its terminate signal) it finishes each one's termination and
/// reaps it: no child outlives its loop.
class ProcessService final : public LoopService {
public:
    explicit ProcessService(LoopCore& loop) noexcept : loop_(loop) {}

    void add(ProcessCore* core) noexcept {
        children_.push_back(core);
        core->set_service(this);
    }
    void remove(ProcessCore* core) noexcept {
        children_.remove(core);
        core->set_service(nullptr);
    }

    void close() noexcept override {
        while (ProcessCore* core = children_.pop_front()) {
            core->set_service(nullptr);
            core->retain();  // closing its handles may drop libuv's reference
            core->reap_at_teardown(loop_);
            core->release();
        }
        std::unique_ptr<ProcessService> owned(this);  // no handle of its own
    }

private:
    LoopCore& loop_;
    IntrusiveList<ProcessCore, ProcessCore> children_;
};

void ProcessCore::on_exit(uv_process_t* process, std::int64_t exit_status,
                          int term_signal) noexcept {
    // libuv has reaped the child (waitpid) before calling us.
    auto* self = static_cast<ProcessCore*>(process->data);
    if (self->service_ != nullptr) {
        self->service_->remove(self);
    }
    self->exited_with(ExitStatus{exit_status, term_signal});
}

void ProcessCore::reap_at_teardown(LoopCore& loop) noexcept {
    if (exited_ || pid_ == 0) {
        return;
    }
    terminate();  // no-op if already terminating
    const int pid = pid_;
    // From here on the child is ours to reap, not libuv's: libuv reaps only inside uv_run (its
    // SIGCHLD watch), which does not run during teardown, and `exited_with` below closes the
    // process handle, which takes it off libuv's list of children before uv_run runs again.
    uv_timer_stop(&timer_);
    const auto grace = static_cast<std::uint64_t>(std::max<std::int64_t>(0, grace_.count()));
    const std::uint64_t kill_at = terminate_sent_ns_ + grace * 1'000'000;
    const std::uint64_t give_up_at = std::max(kill_at, monotonic_ns()) + 5'000'000'000;
    bool killed = false;
    int status = 0;
    auto nap = std::chrono::microseconds(50);
    for (;;) {
        const int reaped = ::waitpid(pid, &status, WNOHANG);
        if (reaped == pid || (reaped < 0 && errno != EINTR)) {
            break;  // reaped (or not our child any more: nothing left to reap)
        }
        const std::uint64_t now = monotonic_ns();
        if (!killed && now >= kill_at) {
            ::kill(pid, SIGKILL);  // the grace is over: kill for real
            killed = true;
        }
        if (now >= give_up_at) {
            try {
                loop.report({"child process " + std::to_string(pid) +
                                 " survived SIGKILL for 5 s at loop teardown; left unreaped",
                             {},
                             nullptr});
            } catch (...) {
                // out of memory for the message: nothing better to do
            }
            break;
        }
        std::this_thread::sleep_for(nap);  // teardown only
        nap = std::min(nap * 2, std::chrono::microseconds(2000));
    }
    ExitStatus how{};
    if (WIFEXITED(status)) {
        how.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        how.term_signal = WTERMSIG(status);
    }
    exited_with(how);  // closes the handles; no task waits any more (all were destroyed)
}

// ---- wait()

ProcessWaitAwaiter::ProcessWaitAwaiter(ProcessCore* core, WaitCancel on_cancel) noexcept
    : core_(core), on_cancel_(on_cancel) {
    if (core_ != nullptr) {
        core_->retain();
    }
}

ProcessWaitAwaiter::~ProcessWaitAwaiter() {
    if (core_ != nullptr) {
        core_->remove(this);
        core_->release();
    }
}

bool ProcessWaitAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (core_ == nullptr) {
        return done_now(UV_EBADF);
    }
    if (core_->exited()) {
        return done_now(0);
    }
    core_->enqueue(this);
    park(resume_at, &on_cancel, process_wait);
    return true;
}

void ProcessWaitAwaiter::on_exit() noexcept {
    if (cancel_seen_) {
        complete_cancelled();  // we killed it: the wait was cancelled, the child is reaped
    } else {
        complete(0);
    }
}

void ProcessWaitAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<ProcessWaitAwaiter*>(self);
    if (awaiter->cancel_seen_) {
        return;
    }
    awaiter->cancel_seen_ = true;
    if (awaiter->on_cancel_ == WaitCancel::leave_running) {
        awaiter->core_->remove(awaiter);  // the child runs on; nothing else changes
        awaiter->complete_cancelled();
        return;
    }
    awaiter->core_->terminate();  // we stay linked: resumed by the exit callback
}

ExitStatus ProcessWaitAwaiter::await_resume() {
    finish("Process::wait()");
    if (result_ < 0) {
        throw_io_error(result_, "wait", "empty Process");
    }
    return core_->status();
}

}  // namespace uvtask::detail

namespace uvtask {

Process::Process(Process&& other) noexcept
    : core_(std::exchange(other.core_, nullptr)), stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)), stderr_(std::move(other.stderr_)) {}

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        Process old(std::move(*this));
        core_ = std::exchange(other.core_, nullptr);
        stdin_ = std::move(other.stdin_);
        stdout_ = std::move(other.stdout_);
        stderr_ = std::move(other.stderr_);
    }
    return *this;
}

Process::~Process() {
    if (core_ != nullptr) {
        core_->terminate();  // no-op once exited; else reaped in the background
        core_->release();
    }
}

int Process::pid() const noexcept { return core_ != nullptr ? core_->pid() : 0; }

void Process::kill(int signum) {
    const int rc = core_ != nullptr ? core_->kill(signum) : UV_ESRCH;
    if (rc < 0) {
        detail::throw_io_error(rc, "kill", "pid " + std::to_string(pid()));
    }
}

std::optional<ExitStatus> Process::exit_status() const noexcept {
    if (core_ != nullptr && core_->exited()) {
        return core_->status();
    }
    return std::nullopt;
}

Process spawn_process(std::vector<std::string> args, ProcessOptions options) {
    detail::LoopCore* loop_core = detail::current_loop();
    if (loop_core == nullptr || loop_core->closed()) {
        throw InvalidStateError("spawn_process: no running uvtask Loop on this thread");
    }
    if (args.empty()) {
        detail::throw_io_error(UV_EINVAL, "spawn", "no program given");
    }
    uv_loop_t* loop = loop_core->native();
    detail::ProcessService& children = loop_core->service<detail::ProcessService>();
    Process process;
    process.core_ = std::make_unique<detail::ProcessCore>(options).release();

    std::array<uv_stdio_container_t, 3> stdio{};
    const std::array<StdioMode, 3> modes{options.stdin_mode, options.stdout_mode,
                                         options.stderr_mode};
    std::array<PipeStream*, 3> pipes{&process.stdin_, &process.stdout_, &process.stderr_};
    for (int i = 0; i < 3; ++i) {
        switch (modes[i]) {
            case StdioMode::inherit:
                stdio[i].flags = UV_INHERIT_FD;
                stdio[i].data.fd = i;
                break;
            case StdioMode::ignore: stdio[i].flags = UV_IGNORE; break;
            case StdioMode::pipe: {
                *pipes[i] = detail::StreamAccess::adopt<PipeStream>(
                    detail::StreamCore::create(detail::StreamKind::pipe));
                detail::StreamCore* core = detail::StreamAccess::core(*pipes[i]);
                if (const int rc = core->init(loop); rc < 0) {
                    detail::throw_io_error(rc, "spawn", args[0]);
                }
                // Readable/writable from the child's point of view.
                stdio[i].flags = static_cast<uv_stdio_flags>(
                    UV_CREATE_PIPE | (i == 0 ? UV_READABLE_PIPE : UV_WRITABLE_PIPE));
                stdio[i].data.stream = core->stream();
                break;
            }
        }
    }

    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (options.env) {
        envp.reserve(options.env->size() + 1);
        for (std::string& entry : *options.env) {
            envp.push_back(entry.data());
        }
        envp.push_back(nullptr);
    }

    uv_process_options_t spawn_options{};
    spawn_options.file = argv[0];
    spawn_options.args = argv.data();
    spawn_options.env = options.env ? envp.data() : nullptr;
    spawn_options.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
    spawn_options.stdio_count = 3;
    spawn_options.stdio = stdio.data();

    if (const int rc = process.core_->init_timer(loop); rc < 0) {
        detail::throw_io_error(rc, "spawn", args[0]);
    }
    if (const int rc = process.core_->spawn(loop, spawn_options); rc < 0) {
        detail::throw_io_error(rc, "spawn", args[0]);
    }
    children.add(process.core_);
    return process;
}

}  // namespace uvtask
