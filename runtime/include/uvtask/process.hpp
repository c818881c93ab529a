// uvtask — child processes: spawn_process() (uv_spawn) with stdio pipes, Process::wait() for the
// exit status; a cancelled wait terminates the child (signal, grace period, SIGKILL) and reaps it.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <chrono>
#include <coroutine>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "uvtask/pipe.hpp"
#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

/// What a child's standard stream is connected to (a plain value).
enum class StdioMode : unsigned char {
    inherit,  ///< the parent's own stdin/stdout/stderr
    pipe,     ///< a pipe to the parent: `Process::stdin_pipe()`…
    ignore,   ///< /dev/null
};

/// Options of `spawn_process` (a plain value).
struct ProcessOptions {
    /// Working directory of the child; empty: the parent's.
    std::string cwd;
    /// The child's environment ("NAME=value" entries); unset: the parent's.
    std::optional<std::vector<std::string>> env;
    /// What the child's stdin, stdout and stderr are connected to.
    StdioMode stdin_mode = StdioMode::inherit;
    StdioMode stdout_mode = StdioMode::inherit;  ///< as `stdin_mode`
    StdioMode stderr_mode = StdioMode::inherit;  ///< as `stdin_mode`
    /// Sent first when the child must be terminated (a cancelled `wait()`, a destroyed Process).
    int terminate_signal = SIGTERM;
    /// How long the child may take to exit after `terminate_signal` before it gets SIGKILL.
    std::chrono::milliseconds grace_period{2000};
};

/// How a child ended: its exit code, or the signal that killed it. A plain value; any thread.
struct ExitStatus {
    std::int64_t exit_code = 0;  ///< `exit()` status (0 when killed by a signal)
    int term_signal = 0;         ///< the signal that ended it, or 0
    /// Exited with code 0, not killed by a signal.
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] bool success() const noexcept { return exit_code == 0 && term_signal == 0; }
};

/// What cancelling a `Process::wait()` does to the child (a plain value).
enum class WaitCancel : unsigned char {
    /// Terminate the child (`terminate_signal`, then SIGKILL after `grace_period`) and reap it;
    /// the wait throws `CancelledError` once it has exited. The default.
    terminate,
    /// Leave the child running: the wait throws `CancelledError` at once and the Process stays
    /// usable (a later `wait()` gets the exit status), like asyncio's `Process.wait()`.
    leave_running,
};

namespace detail {

class ProcessCore;

/// `Process::wait()`.
class ProcessWaitAwaiter : public IoAwaiter {
public:
    ProcessWaitAwaiter(ProcessCore* core, WaitCancel on_cancel) noexcept;
    ~ProcessWaitAwaiter();
    ProcessWaitAwaiter(const ProcessWaitAwaiter&) = delete;
    ProcessWaitAwaiter& operator=(const ProcessWaitAwaiter&) = delete;
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    ExitStatus await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
    /// The child exited (and was reaped).
    void on_exit() noexcept;

    ProcessWaitAwaiter* prev = nullptr;  // the core's list of waiters
    ProcessWaitAwaiter* next = nullptr;
    bool linked = false;

private:
    static void on_cancel(Suspension* self) noexcept;
    ProcessCore* core_;  // one reference
    WaitCancel on_cancel_;
};

}  // namespace detail

/// A child process started by `spawn_process`. Move-only; belongs to its loop's thread.
///
/// Destroying a Process whose child is still running terminates the child the same way as a
/// cancelled `wait()` (terminate signal, grace period, SIGKILL), in the background; libuv reaps
/// it (no zombie). Its pipes are closed.
///
/// No child outlives its loop: when the loop tears down (at the end of `run()`, or when a
/// `Loop` is destroyed) with children still running — a Process destroyed just before, whose
/// child ignores the terminate signal, or one destroyed with its task at teardown — the
/// teardown finishes each termination itself: it sends the terminate signal if it was not sent
/// yet, waits out what is left of `grace_period`, sends SIGKILL, and reaps the child. The
/// teardown blocks meanwhile (at most the grace period, plus the moment SIGKILL takes; a child
/// that survives SIGKILL for 5 s is reported through the loop's exception handler).
class Process {
public:
    /// An empty Process (no child). At once; not a suspension point; throws nothing; any thread.
    Process() noexcept = default;
    /// Takes `other`'s child and pipes; `other` is empty after.
    /// At once; not a suspension point; throws nothing; loop thread only.
    Process(Process&& other) noexcept;
    /// Destroys this Process as the destructor does (its child, if running, is terminated in
    /// the background), then takes `other`'s child and pipes.
    /// At once; not a suspension point; throws nothing; loop thread only.
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    /// Terminates a still running child in the background (see above) and closes the pipes.
    /// At once; not a suspension point; throws nothing; loop thread only.
    ~Process();

    /// The child's process id (0 for an empty Process).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] int pid() const noexcept;

    /// The pipes to the child's stdin/stdout/stderr (`StdioMode::pipe`); an empty (closed)
    /// stream otherwise. Write to stdin, then `stdin_pipe().close()` to send end-of-file. The
    /// references live as long as the Process (move the stream out to keep it longer).
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] PipeStream& stdin_pipe() noexcept { return stdin_; }
    /// The child's stdout; as `stdin_pipe`.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] PipeStream& stdout_pipe() noexcept { return stdout_; }
    /// The child's stderr; as `stdin_pipe`.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] PipeStream& stderr_pipe() noexcept { return stderr_; }

    /// Waits for the child to exit and returns how it ended; at once if it has exited already.
    /// Several tasks may wait.
    ///
    /// Completes when: the child has exited and was reaped by libuv (no zombie).
    /// Suspension point: yes.
    /// On cancel, as `on_cancel` says:
    /// - `WaitCancel::terminate` (the default): the child is terminated — `terminate_signal`,
    ///   then SIGKILL if it is still running after `grace_period` — and the task resumes with
    ///   `CancelledError` only once the child has exited and been reaped; `exit_status()` then
    ///   tells how it ended. Other tasks waiting get that status.
    /// - `WaitCancel::leave_running`: `CancelledError` at once, the child is not touched, and the
    ///   Process stays usable: `wait()` again later returns the exit status. So
    ///   `wait_for(p.wait(WaitCancel::leave_running), 5s)` bounds the wait, not the child.
    /// Either way, if the child had exited before the cancel reached the wait, its status is
    /// returned (atomic completion) and the cancel waits for the next suspension point.
    /// Throws: `IoError` `EBADF` for an empty Process, `CancelledError`, `InvalidStateError`
    /// outside a task. Calling `wait()` itself throws nothing.
    /// Thread safety: loop thread only.
    [[nodiscard]] detail::ProcessWaitAwaiter wait(
        WaitCancel on_cancel = WaitCancel::terminate) noexcept {
        return detail::ProcessWaitAwaiter{core_, on_cancel};
    }

    /// Sends `signum` to the child (`uv_process_kill`).
    ///
    /// Completes when: at once (the signal is sent; the child's reaction is not waited for).
    /// Suspension point: no. On cancel: not cancellable.
    /// Throws: `IoError` (operation "kill", detail "pid N": `ESRCH` once the child has exited
    /// and been reaped or for an empty Process, `EINVAL` for a bad signal); `std::bad_alloc`.
    /// Thread safety: loop thread only.
    void kill(int signum);

    /// How the child ended, once it has (and was reaped); empty while it runs and for an empty
    /// Process. At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] std::optional<ExitStatus> exit_status() const noexcept;

private:
    friend Process spawn_process(std::vector<std::string> args, ProcessOptions options);
    detail::ProcessCore* core_ = nullptr;  // one reference
    PipeStream stdin_;
    PipeStream stdout_;
    PipeStream stderr_;
};

/// Starts `args[0]` (looked up in PATH) with arguments `args` (`uv_spawn`).
///
/// Completes when: at once — it returns once the child runs (libuv waits for the exec to
/// succeed or fail; the calling thread blocks that long).
/// Suspension point: no. On cancel: not cancellable.
/// Throws: `IoError` (operation "spawn", detail the program: `ENOENT` for a program that does
/// not exist, `EACCES`…, `EINVAL` for empty `args`); `InvalidStateError` when the thread has no
/// uvtask Loop; `std::bad_alloc`.
/// Thread safety: the loop's thread; the Process then belongs to it.
[[nodiscard]] Process spawn_process(std::vector<std::string> args, ProcessOptions options = {});

}  // namespace uvtask
