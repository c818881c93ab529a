// uvtask — files: File (open, read, write, fsync, stat, close), read_file, write_file (in
// place or atomic), file_stat, rename_file, remove_file, over libuv's thread-pool file system
// requests (uv_fs_*).
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <fcntl.h>
#include <uv.h>

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "uvtask/detail/io_awaiter.hpp"
#include "uvtask/task.hpp"

namespace uvtask {

class File;

/// What `File::stat` and `file_stat` return. A plain value; any thread.
struct FileStat {
    std::uint64_t size = 0;  ///< bytes
    std::uint64_t mode = 0;  ///< type and permission bits (`S_IFREG | 0644`…)
    std::chrono::system_clock::time_point modified;  ///< last modification
    /// True for a regular file (`S_IFREG`).
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] bool is_regular() const noexcept;
    /// True for a directory (`S_IFDIR`).
    /// At once; not a suspension point; throws nothing; any thread.
    [[nodiscard]] bool is_directory() const noexcept;
};

namespace detail {

struct FsOp;

/// One `uv_fs_*` request. The request, and the bytes a read or write moves, live in a heap
/// `FsOp` that libuv owns until its callback: a task frame destroyed while a pool thread still
/// reads into or writes from them (loop teardown) cannot make it touch freed memory. Reads are
/// copied out to the caller's buffer in `await_resume`, writes copied in when they start.
class FsAwaiter : public IoAwaiter {
public:
    enum class Kind : unsigned char {
        open,
        read,
        write,
        fsync,
        fstat,
        stat,
        close,
        rename,
        unlink
    };
    struct Args {
        Kind kind;
        std::string path;               // open, stat, rename (from), unlink
        uv_file fd = -1;                // read, write, fsync, fstat, close
        int flags = 0;                  // open
        int mode = 0;                   // open
        std::int64_t offset = -1;       // read, write (-1: the file position)
        std::span<std::byte> out;       // read
        std::span<const std::byte> in;  // write
        std::string new_path;           // rename (to)
    };
    explicit FsAwaiter(Args args) noexcept;
    ~FsAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    /// The request's callback.
    void on_done(std::int64_t result, const uv_stat_t& stat) noexcept;
    /// `WaitInfo::detail`: the request and its path or file descriptor.
    static void describe(const Suspension& self, std::string& out);

protected:
    /// `finish`, then the request's result, or throws `IoError`.
    std::int64_t resume_result();
    [[nodiscard]] const uv_stat_t& stat() const noexcept { return stat_; }
    [[nodiscard]] const Args& args() const noexcept { return args_; }
    /// The request was handed to libuv.
    [[nodiscard]] bool started() const noexcept { return started_; }

private:
    static void on_cancel(Suspension* self) noexcept;
    [[nodiscard]] const char* name() const noexcept;
    Args args_;
    FsOp* op_ = nullptr;  // in flight
    bool started_ = false;
    uv_stat_t stat_{};
};

/// Resumes with the byte count (read, write).
class FsSizeAwaiter : public FsAwaiter {
public:
    using FsAwaiter::FsAwaiter;
    std::size_t await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

/// Resumes with nothing (fsync).
class FsVoidAwaiter : public FsAwaiter {
public:
    using FsAwaiter::FsAwaiter;
    void await_resume() { (void)resume_result(); }
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

/// Resumes with a `FileStat` (stat, fstat).
class FsStatAwaiter : public FsAwaiter {
public:
    using FsAwaiter::FsAwaiter;
    FileStat await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

/// Resumes with an open `File`.
class FsOpenAwaiter : public FsAwaiter {
public:
    using FsAwaiter::FsAwaiter;
    ~FsOpenAwaiter();
    File await_resume();
    Outcome<File> await_resume_outcome() noexcept;  // File is complete in fs.cpp

private:
    bool taken_ = false;
};

/// `File::close()`: owns the descriptor from the call on, and closes it whatever happens.
class FsCloseAwaiter : public FsAwaiter {
public:
    using FsAwaiter::FsAwaiter;
    ~FsCloseAwaiter();
    void await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
};

/// Closes `fd` in the background (a request nobody waits for), or at once with no loop.
void close_file_detached(uv_file fd) noexcept;

}  // namespace detail

/// An open file descriptor driven through libuv's thread pool (regular files never block the
/// loop). Move-only; belongs to its loop's thread. The destructor closes a file still open, in
/// the background. Every operation on a closed (or moved-from) File throws `IoError` `EBADF`.
///
/// Cancellation of every file operation (`uv_fs_*` requests): cancelled while the request waits
/// for a pool thread, it is `uv_cancel`led and `CancelledError` is thrown, with no effect on the
/// file. Once a pool thread runs it, it cannot be stopped: the task waits for it and gets its
/// result (atomic completion), and the cancel is delivered at the next suspension point.
/// Either way the task resumes only after libuv is done with the request. An awaited operation
/// throws `CancelledError` on cancel and `InvalidStateError` outside a task, besides the
/// `IoError`s listed (`ENOMEM` when the request cannot be allocated); making the awaitable
/// throws nothing.
///
/// Lifetime: owns its descriptor; move-only. Destroying (or assigning over) an open File closes
/// the descriptor in the background (`uv_fs_close` on the loop, or `close(2)` with no loop).
/// Thread safety: the thread of the loop it is used on; a File is not thread-safe.
class File {
public:
    /// An empty (closed) File. At once; not a suspension point; throws nothing; any thread.
    File() noexcept = default;
    /// Takes ownership of the open descriptor `fd` (the File closes it). At once; not a
    /// suspension point; throws nothing; any thread.
    explicit File(uv_file fd) noexcept : fd_(fd) {}
    /// Takes `other`'s descriptor; `other` is empty after.
    /// At once; not a suspension point; throws nothing; any thread.
    File(File&& other) noexcept;
    /// Closes this File's descriptor in the background, then takes `other`'s.
    /// At once; not a suspension point; throws nothing; loop thread only.
    File& operator=(File&& other) noexcept;
    File(const File&) = delete;
    File& operator=(const File&) = delete;
    /// Closes an open descriptor in the background (errors are not reported).
    /// At once; not a suspension point; throws nothing; loop thread only.
    ~File();

    /// Opens `path` (`uv_fs_open`) with `flags` (`O_RDONLY`, `O_WRONLY | O_CREAT | O_TRUNC`…
    /// from <fcntl.h>; `O_CLOEXEC` is added by libuv) and, when creating, `mode`.
    ///
    /// Completes when: the open has run on a pool thread.
    /// Suspension point: yes.
    /// On cancel: the file cancellation rule: an open that already ran returns the File
    /// (atomic completion); one cancelled before it ran opened nothing.
    /// Throws: `IoError` (operation "open", detail the path): `ENOENT`, `EACCES`, `EISDIR`…;
    /// `CancelledError`; `InvalidStateError` outside a task.
    /// Thread safety: the awaiting task's loop thread.
    [[nodiscard]] static detail::FsOpenAwaiter open(std::string path, int flags = O_RDONLY,
                                                    int mode = 0644) noexcept {
        return detail::FsOpenAwaiter{
            {detail::FsAwaiter::Kind::open, std::move(path), -1, flags, mode, -1, {}, {}, {}}};
    }

    /// Reads up to `out.size()` bytes (at most 1 MiB per call) at `offset`, or at the file
    /// position when `offset` is -1; returns how many, 0 at the end of the file. `out` must
    /// outlive the `co_await` (the bytes are copied into it when the task resumes).
    ///
    /// Completes when: the request has run on a pool thread (the task resumes from the ready
    /// queue). Suspension point: yes. On cancel: the file cancellation rule (class comment).
    /// Throws: `IoError` (operation "read"; `EBADF` for a closed File); `CancelledError`;
    /// `InvalidStateError` outside a task. Thread safety: the awaiting task's loop thread.
    [[nodiscard]] detail::FsSizeAwaiter read(std::span<std::byte> out,
                                             std::int64_t offset = -1) const noexcept {
        return detail::FsSizeAwaiter{
            {detail::FsAwaiter::Kind::read, {}, fd_, 0, 0, offset, out, {}, {}}};
    }
    /// `read` into a `char` buffer; as above.
    [[nodiscard]] detail::FsSizeAwaiter read(std::span<char> out,
                                             std::int64_t offset = -1) const noexcept {
        return read(std::as_writable_bytes(out), offset);
    }

    /// Writes up to `data.size()` bytes (at most 1 MiB per call) at `offset`, or at the file
    /// position when -1; returns how many were written. `data` is copied when the write starts.
    ///
    /// Completes when: the request has run on a pool thread (the task resumes from the ready
    /// queue). Suspension point: yes. On cancel: the file cancellation rule (class comment).
    /// Throws: `IoError` (operation "write"; `EBADF` for a closed File); `CancelledError`;
    /// `InvalidStateError` outside a task. Thread safety: the awaiting task's loop thread.
    [[nodiscard]] detail::FsSizeAwaiter write(std::span<const std::byte> data,
                                              std::int64_t offset = -1) const noexcept {
        return detail::FsSizeAwaiter{
            {detail::FsAwaiter::Kind::write, {}, fd_, 0, 0, offset, {}, data, {}}};
    }
    /// `write` of a string's bytes; as above.
    [[nodiscard]] detail::FsSizeAwaiter write(std::string_view data,
                                              std::int64_t offset = -1) const noexcept {
        return write(std::as_bytes(std::span<const char>(data.data(), data.size())), offset);
    }

    /// Writes all of `data` (several `write`s) at `offset`, or at the file position when -1.
    /// `data` and the File must outlive the Task (await it at once).
    ///
    /// Completes when: every byte is written.
    /// Suspension point: yes — each write is one, with the file cancellation rule.
    /// On cancel: a prefix of `data` can stay written (the bytes of each completed write).
    /// Throws: `IoError` (operation "write"); `CancelledError`; `InvalidStateError` outside a
    /// task; `std::bad_alloc` (the Task's frame). Thread safety: the awaiting task's loop thread.
    [[nodiscard]] Task<void> write_all(std::span<const std::byte> data,
                                       std::int64_t offset = -1) const;

    /// Flushes the file to storage (`uv_fs_fsync`).
    ///
    /// Completes when: the request has run on a pool thread (the task resumes from the ready
    /// queue). Suspension point: yes. On cancel: the file cancellation rule (class comment).
    /// Throws: `IoError` (operation "fsync"); `CancelledError`; `InvalidStateError` outside a
    /// task. Thread safety: the awaiting task's loop thread.
    [[nodiscard]] detail::FsVoidAwaiter fsync() const noexcept {
        return detail::FsVoidAwaiter{
            {detail::FsAwaiter::Kind::fsync, {}, fd_, 0, 0, -1, {}, {}, {}}};
    }

    /// Size, mode and modification time (`uv_fs_fstat`).
    ///
    /// Completes when: the request has run on a pool thread (the task resumes from the ready
    /// queue). Suspension point: yes. On cancel: the file cancellation rule (class comment).
    /// Throws: `IoError` (operation "stat"); `CancelledError`; `InvalidStateError` outside a
    /// task. Thread safety: the awaiting task's loop thread.
    [[nodiscard]] detail::FsStatAwaiter stat() const noexcept {
        return detail::FsStatAwaiter{
            {detail::FsAwaiter::Kind::fstat, {}, fd_, 0, 0, -1, {}, {}, {}}};
    }

    /// Closes the file (`uv_fs_close`). The File is empty from the call on (not from the
    /// `co_await`), and the descriptor is released whatever happens.
    ///
    /// Completes when: the close has run.
    /// Suspension point: yes, but once started a close is not interrupted (it is quick, and it
    /// is cleanup).
    /// On cancel: a cancel arriving meanwhile waits for the next suspension point. With a cancel
    /// already pending when it starts, `CancelledError` is thrown and the descriptor is closed
    /// in the background.
    /// Throws: `IoError` (operation "close"; `EBADF` if not open); `CancelledError`;
    /// `InvalidStateError` outside a task. Thread safety: the awaiting task's loop thread.
    [[nodiscard]] detail::FsCloseAwaiter close() noexcept {
        return detail::FsCloseAwaiter{
            {detail::FsAwaiter::Kind::close, {}, std::exchange(fd_, -1), 0, 0, -1, {}, {}, {}}};
    }

    /// True while the File owns a descriptor.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
    /// The descriptor (-1 when closed); still owned by the File.
    /// At once; not a suspension point; throws nothing; loop thread only.
    [[nodiscard]] uv_file native_handle() const noexcept { return fd_; }

private:
    uv_file fd_ = -1;
};

/// Size, mode and modification time of `path` (`uv_fs_stat`, following symlinks).
///
/// Completes when: the stat has run on a pool thread.
/// Suspension point: yes.
/// On cancel: the file cancellation rule (see `File`).
/// Throws: `IoError` (operation "stat", detail the path: `ENOENT`…); `CancelledError`;
/// `InvalidStateError` outside a task. Thread safety: the awaiting task's loop thread.
[[nodiscard]] inline detail::FsStatAwaiter file_stat(std::string path) noexcept {
    return detail::FsStatAwaiter{
        {detail::FsAwaiter::Kind::stat, std::move(path), -1, 0, 0, -1, {}, {}, {}}};
}

/// Renames `from` to `to` (`uv_fs_rename`, POSIX `rename`): if `to` exists it is replaced
/// atomically (a reader sees the old file or the new one, never neither); both must be on the
/// same file system.
///
/// Completes when: the rename is done.
/// Suspension point: yes.
/// On cancel: the file cancellation rule — a rename still waiting for a pool thread is dropped
/// (`CancelledError`, nothing renamed); one already running completes, and the cancel waits
/// for the next suspension point.
/// Throws: `IoError` (operation "rename", detail "from -> to": `ENOENT`, `EXDEV`, `EISDIR`…);
/// `InvalidStateError` outside a task. Thread safety: loop thread only.
[[nodiscard]] inline detail::FsVoidAwaiter rename_file(std::string from, std::string to) noexcept {
    return detail::FsVoidAwaiter{
        {detail::FsAwaiter::Kind::rename, std::move(from), -1, 0, 0, -1, {}, {}, std::move(to)}};
}

/// Removes the file (or symlink) `path` (`uv_fs_unlink`).
///
/// Completes when: it is removed.
/// Suspension point: yes.
/// On cancel: the file cancellation rule (as for `rename_file`).
/// Throws: `IoError` (operation "unlink", detail the path: `ENOENT`, `EISDIR`…);
/// `InvalidStateError` outside a task. Thread safety: loop thread only.
[[nodiscard]] inline detail::FsVoidAwaiter remove_file(std::string path) noexcept {
    return detail::FsVoidAwaiter{
        {detail::FsAwaiter::Kind::unlink, std::move(path), -1, 0, 0, -1, {}, {}, {}}};
}

/// Reads the whole file at `path`.
///
/// Completes when: the whole file is read and closed.
/// Suspension point: yes — a Task of several file operations, each with the file cancellation
/// rule.
/// On cancel: the step under way follows the file cancellation rule; nothing is left open.
/// Throws: `IoError` (operation "open" with detail the path, e.g. `ENOENT` for a missing file;
/// "read"); `CancelledError`; `InvalidStateError` outside a task; `std::bad_alloc`.
/// Thread safety: the awaiting task's loop thread.
[[nodiscard]] Task<std::string> read_file(std::string path);

/// Options of `write_file` (a plain value).
struct WriteFileOptions {
    /// All or nothing: write a temporary file next to the target and rename it over the target
    /// (see `write_file`). Off by default (the file is truncated and written in place).
    bool atomic = false;
    /// Permission bits of the file written (before the process's umask).
    int mode = 0644;
};

/// Writes `data` to the file at `path`.
///
/// In place (the default): creates or truncates `path`, then writes `data` into it. A cancel
/// or a failure can leave the file truncated or partly written.
///
/// `options.atomic`: all or nothing. Writes `data` to a temporary file in the same directory
/// (named `.<name>.uvtask-<pid>-<n>.tmp`, created exclusively with `options.mode`), fsyncs and
/// closes it, renames it over `path` — the commit point — and then fsyncs the directory (best
/// effort: an error there is ignored, the replace has happened). Readers see the old content or
/// the whole new one, never a mixture. The new file has `options.mode`, not the old file's
/// permissions; a symlink at `path` is replaced, not followed.
///
/// Completes when: the data is in place (atomic: renamed and synced).
/// Suspension point: yes — a Task of several file operations, each with the file
/// cancellation rule.
/// On cancel: in place, whatever was written stays. Atomic: cancelled before the rename ran,
/// `CancelledError`, the old file (or its absence) untouched and the temporary file removed;
/// once the rename ran, `write_file` completes and the cancel waits for the next suspension
/// point after it.
/// Throws: `IoError` (operation "open", "write", "fsync", "close" or "rename", detail the path;
/// atomic: the temporary file is removed first); `InvalidStateError` outside a task.
/// Thread safety: loop thread only.
[[nodiscard]] Task<void> write_file(std::string path, std::string data,
                                    WriteFileOptions options = {});

}  // namespace uvtask
