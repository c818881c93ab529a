// Files: File, read_file, write_file, file_stat over uv_fs_* requests, with temp files only.
#include <uvtask/fs.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "io_test_support.hpp"
#include "run_test.hpp"

using namespace uvtask;
using namespace std::chrono_literals;
using uvtask::testing::CancelAfterCompletion;
using uvtask::testing::PoolBlocker;
using uvtask::testing::run_test;
using uvtask::testing::TempPath;

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A fresh directory in the temp directory, removed with everything in it.
class TempDir {
public:
    explicit TempDir(const std::string& name) : path_(name) {
        std::filesystem::create_directory(path_.str());
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_.str(), ignored);
    }
    [[nodiscard]] std::string file(const std::string& name) const {
        return path_.str() + "/" + name;
    }
    /// The names of the entries in it.
    [[nodiscard]] std::vector<std::string> entries() const {
        std::vector<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(path_.str())) {
            names.push_back(entry.path().filename().string());
        }
        return names;
    }

private:
    TempPath path_;
};

void put(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

/// The size of the one entry of `dir` other than `target`, or -1 if there is none.
std::intmax_t temporary_size(const TempDir& dir, const std::string& target) {
    for (const std::string& name : dir.entries()) {
        if (name != target) {
            std::error_code error;
            const auto size = std::filesystem::file_size(dir.file(name), error);
            return error ? 0 : static_cast<std::intmax_t>(size);
        }
    }
    return -1;
}

Task<void> open_and_hold(std::string path, int flags) {
    File file = co_await File::open(path, flags, 0644);
    (void)file;
}

}  // namespace

TEST_SUITE("fs") {
    TEST_CASE("write_file then read_file round-trips a file larger than one request") {
        TempPath path("roundtrip.bin");
        run_test([](std::string p) -> Task<void> {
            std::string data(3 * 1024 * 1024 + 17, '\0');
            for (std::size_t i = 0; i < data.size(); ++i) {
                data[i] = static_cast<char>(i * 131 % 251);
            }
            co_await write_file(p, data);
            const std::string back = co_await read_file(p);
            CHECK(back == data);
            const FileStat info = co_await file_stat(p);
            CHECK(info.size == data.size());
            CHECK(info.is_regular());
            CHECK_FALSE(info.is_directory());
        }(path.str()));
        CHECK(slurp(path.str()).size() == 3 * 1024 * 1024 + 17);
    }

    TEST_CASE("File reads and writes at offsets and at the file position, fsyncs, stats, closes") {
        TempPath path("file.txt");
        run_test([](std::string p) -> Task<void> {
            File file = co_await File::open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
            CHECK(file.is_open());
            const std::size_t n = co_await file.write("hello world");
            CHECK(n == 11);
            (void)co_await file.write("WORLD", 6);
            co_await file.fsync();
            const FileStat info = co_await file.stat();
            CHECK(info.size == 11);
            CHECK((info.mode & 0777) == 0600);
            std::string buffer(5, '\0');
            const std::size_t got = co_await file.read(std::span<char>(buffer), 0);
            CHECK(got == 5);
            CHECK(buffer == "hello");
            const std::size_t at_end = co_await file.read(std::span<char>(buffer), 11);
            CHECK(at_end == 0);
            co_await file.close();
            CHECK_FALSE(file.is_open());
        }(path.str()));
        CHECK(slurp(path.str()) == "hello WORLD");
    }

    TEST_CASE("reading a missing file is an IoError ENOENT naming the path") {
        TempPath path("missing.txt");
        run_test([](std::string p) -> Task<void> {
            int status = 0;
            std::string detail;
            std::string operation;
            try {
                (void)co_await read_file(p);
            } catch (const IoError& error) {
                status = error.uv_status();
                detail = error.detail();
                operation = error.operation();
                CHECK(error.code() == std::errc::no_such_file_or_directory);
            }
            CHECK(status == UV_ENOENT);
            CHECK(operation == "open");
            CHECK(detail == p);
            CHECK_THROWS_AS((void)co_await file_stat(p), IoError);
        }(path.str()));
    }

    TEST_CASE("operations on a closed or empty File are an IoError EBADF") {
        TempPath path("closed.txt");
        run_test([](std::string p) -> Task<void> {
            File file = co_await File::open(p, O_WRONLY | O_CREAT, 0644);
            co_await file.close();
            int status = 0;
            try {
                (void)co_await file.write("late");
            } catch (const IoError& error) {
                status = error.uv_status();
            }
            CHECK(status == UV_EBADF);
            File empty;
            CHECK_THROWS_AS(co_await empty.fsync(), IoError);
            CHECK_THROWS_AS(co_await empty.close(), IoError);
        }(path.str()));
    }

    TEST_CASE("an open cancelled before a pool thread ran it has no effect") {
        TempPath path("never-created.txt");
        run_test([](std::string p) -> Task<void> {
            auto pool = co_await PoolBlocker::occupy();  // queued requests cannot start now
            auto opening = spawn(open_and_hold(p, O_WRONLY | O_CREAT));
            co_await sleep(5ms);
            CHECK_FALSE(opening.done());
            opening.cancel();
            CHECK_THROWS_AS(co_await opening, CancelledError);  // resumed via uv_cancel
            co_await pool->release();
            CHECK_FALSE(std::filesystem::exists(p));  // nothing was created
        }(path.str()));
    }

    TEST_CASE("a file read that completed before the cancel reached it returns its bytes") {
        TempPath path("race.txt");
        run_test([](std::string p) -> Task<void> {
            co_await write_file(p, "0123456789");
            File file = co_await File::open(p);
            bool started = false;
            auto reading = spawn([](File* f, bool* go) -> Task<std::string> {
                std::string buffer(10, '\0');
                *go = true;
                const std::size_t n = co_await f->read(std::span<char>(buffer), 0);
                buffer.resize(n);
                if (!this_task::cancel_requested()) {
                    buffer = "no cancel";
                }
                co_return buffer;
            }(&file, &started));
            CancelAfterCompletion canceller(
                reading, [&] { return started && uvtask::testing::some_task_ready(); });
            const std::string got = co_await reading;
            CHECK(canceller.fired());
            CHECK(got == "0123456789");
        }(path.str()));
    }

    TEST_CASE("File::close with a cancel pending still releases the descriptor") {
        TempPath path("close.txt");
        run_test([](std::string p) -> Task<void> {
            File file = co_await File::open(p, O_WRONLY | O_CREAT, 0644);
            const int fd = file.native_handle();
            TaskHandle<void> self;
            auto closing = spawn([](TaskHandle<void>* me, File* f) -> Task<void> {
                me->cancel();
                co_await f->close();
            }(&self, &file));
            self = closing;
            CHECK_THROWS_AS(co_await closing, CancelledError);
            CHECK_FALSE(file.is_open());
            // Closed in the background: wait until the descriptor is gone.
            auto gone = [fd] { return ::fcntl(fd, F_GETFD) == -1; };
            co_await uvtask::testing::until(gone);
        }(path.str()));
    }

    TEST_CASE("an atomic write_file replaces the file whole and leaves no temporary file") {
        TempDir dir("atomic-ok");
        put(dir.file("config"), "old");
        run_test([](std::string p) -> Task<void> {
            const std::string data(3 * 1024 * 1024 + 5, 'n');
            co_await write_file(p, data, {.atomic = true, .mode = 0600});
            const std::string back = co_await read_file(p);
            CHECK(back == data);
            const FileStat info = co_await file_stat(p);
            CHECK((info.mode & 0777) == 0600);
        }(dir.file("config")));
        CHECK(dir.entries() == std::vector<std::string>{"config"});
    }

    TEST_CASE(
        "an atomic write_file cancelled before its rename leaves the old file intact and no "
        "temporary file") {
        // Cancelled right after a step completed: once the temporary file exists, and once it
        // holds 1 and 2 of its 3 MiB.
        for (const std::intmax_t cancel_at : {0, 1 << 20, 2 << 20}) {
            CAPTURE(cancel_at);
            TempDir dir("atomic-cancel");
            put(dir.file("config"), "old");
            run_test([](const TempDir* d, std::intmax_t at) -> Task<void> {
                auto writing = spawn(
                    write_file(d->file("config"), std::string(3 << 20, 'n'), {.atomic = true}));
                CancelAfterCompletion canceller(writing, [d, at] {
                    return temporary_size(*d, "config") >= at && uvtask::testing::some_task_ready();
                });
                CHECK_THROWS_AS(co_await writing, CancelledError);
                CHECK(canceller.fired());
            }(&dir, cancel_at));
            CHECK(slurp(dir.file("config")) == "old");
            CHECK(dir.entries() == std::vector<std::string>{"config"});
        }
    }

    TEST_CASE("an atomic write_file whose rename fails removes its temporary file") {
        TempDir dir("atomic-fail");
        std::filesystem::create_directory(dir.file("target"));
        put(dir.file("target") + "/inside", "kept");
        run_test([](std::string p) -> Task<void> {
            std::string operation;
            try {
                co_await write_file(p, "data", {.atomic = true});
            } catch (const IoError& error) {
                operation = error.operation();
            }
            CHECK(operation == "rename");  // a file cannot replace a directory
        }(dir.file("target")));
        CHECK(dir.entries() == std::vector<std::string>{"target"});
        CHECK(slurp(dir.file("target") + "/inside") == "kept");
    }

    TEST_CASE("rename_file replaces its target; remove_file removes; both name their paths") {
        TempDir dir("rename");
        put(dir.file("a"), "first");
        put(dir.file("b"), "second");
        run_test([](const TempDir* d) -> Task<void> {
            co_await rename_file(d->file("a"), d->file("b"));
            CHECK(slurp(d->file("b")) == "first");
            CHECK_FALSE(std::filesystem::exists(d->file("a")));
            std::string detail;
            int status = 0;
            try {
                co_await rename_file(d->file("a"), d->file("c"));
            } catch (const IoError& error) {
                status = error.uv_status();
                detail = error.detail();
            }
            CHECK(status == UV_ENOENT);
            CHECK(detail == d->file("a") + " -> " + d->file("c"));
            co_await remove_file(d->file("b"));
            CHECK(d->entries().empty());
            status = 0;
            try {
                co_await remove_file(d->file("b"));
            } catch (const IoError& error) {
                status = error.uv_status();
                detail = error.detail();
                CHECK(error.operation() == "unlink");
            }
            CHECK(status == UV_ENOENT);
            CHECK(detail == d->file("b"));
        }(&dir));
    }
}
