// Whole-file helpers over File: read_file, and write_file in place or atomically (temporary file
// in the same directory, fsync, rename over the target, fsync the directory).
#include <unistd.h>

#include <atomic>
#include <exception>
#include <string>
#include <utility>

#include "uvtask/fs.hpp"
#include "uvtask/io_error.hpp"
#include "uvtask/non_cancellable.hpp"

namespace uvtask {

namespace {

std::span<const std::byte> bytes_of(const std::string& data) noexcept {
    return std::as_bytes(std::span<const char>(data.data(), data.size()));
}

/// `.<name>.uvtask-<pid>-<n>.tmp` next to `path`.
std::string temporary_path_for(const std::string& path) {
    // Relaxed: only uniqueness matters, not ordering with anything else.
    static std::atomic<unsigned long> counter{0};
    const std::size_t slash = path.rfind('/');
    const std::size_t name_at = slash == std::string::npos ? 0 : slash + 1;
    return path.substr(0, name_at) + "." + path.substr(name_at) + ".uvtask-" +
           std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1, std::memory_order_relaxed)) + ".tmp";
}

std::string directory_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

/// Removes the temporary file of a write that did not commit (run non-cancellably).
Task<void> discard(std::string path) {
    try {
        co_await remove_file(std::move(path));
    } catch (const IoError&) {
        // Already gone, or the directory became unwritable: nothing more can be done.
    }
}

/// Makes a rename durable (run non-cancellably, after the commit).
Task<void> sync_directory(std::string path) {
    try {
        File directory = co_await File::open(std::move(path), O_RDONLY | O_DIRECTORY);
        co_await directory.fsync();
        co_await directory.close();
    } catch (const IoError&) {
        // Best effort: the replace has happened; some file systems cannot fsync a directory.
    }
}

Task<void> write_in_place(std::string path, std::string data, int mode) {
    File file = co_await File::open(std::move(path), O_WRONLY | O_CREAT | O_TRUNC, mode);
    co_await file.write_all(bytes_of(data));
    co_await file.close();
}

Task<void> write_atomically(std::string path, std::string data, int mode) {
    const std::string temporary = temporary_path_for(path);
    bool created = false;
    std::exception_ptr failure;
    try {
        File file = co_await File::open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode);
        created = true;
        co_await file.write_all(bytes_of(data));
        co_await file.fsync();
        co_await file.close();
        co_await rename_file(temporary, path);  // the commit point
    } catch (...) {
        failure = std::current_exception();  // CancelledError included
    }
    if (failure) {
        if (created) {
            co_await non_cancellable(discard(temporary));
        }
        std::rethrow_exception(failure);
    }
    co_await non_cancellable(sync_directory(directory_of(path)));
}

}  // namespace

Task<std::string> read_file(std::string path) {
    File file = co_await File::open(path, O_RDONLY);
    const FileStat info = co_await file.stat();
    std::string content;
    content.resize(static_cast<std::size_t>(info.size) + 1);  // +1: see the end in one read
    std::size_t used = 0;
    while (true) {
        if (used == content.size()) {
            content.resize(content.size() * 2);  // the file grew since stat
        }
        const std::size_t n =
            co_await file.read(std::span<char>(content.data() + used, content.size() - used));
        if (n == 0) {
            break;
        }
        used += n;
    }
    content.resize(used);
    co_await file.close();
    co_return content;
}

Task<void> write_file(std::string path, std::string data, WriteFileOptions options) {
    if (options.atomic) {
        co_await write_atomically(std::move(path), std::move(data), options.mode);
    } else {
        co_await write_in_place(std::move(path), std::move(data), options.mode);
    }
}

}  // namespace uvtask
