// TaskGroup, gather and race cancelled at each of their suspension points
// (`testing::cancel_at_every_point`): every child that started has ended, no frame is left, the
// results are whole when the root completed.
#include <doctest/doctest.h>

#include <memory>
#include <tuple>

#include <uvtask/uvtask.hpp>

#include "cancel_points.hpp"

using namespace uvtask;
using uvtask::testing::CancelPointRun;
using uvtask::testing::Counted;
using uvtask::testing::cover_every_point;
using uvtask::testing::RootEnd;

namespace {

struct Children {
    int started = 0;
    int ended = 0;     // by any way: returned, cancelled, failed
    int finished = 0;  // returned
};

// Marks a child started for its life, ended when its frame goes.
struct Life {
    Children* c;
    const Counted alive;
    explicit Life(Children* children) noexcept : c(children) { ++c->started; }
    Life(const Life&) = delete;
    Life& operator=(const Life&) = delete;
    ~Life() { ++c->ended; }
};

// `yields` yields, then `value`.
Task<int> child(Children* c, int yields, int value) {
    const Life life(c);
    for (int i = 0; i < yields; ++i) {
        co_await yield_now();
    }
    ++c->finished;
    co_return value;
}

// A child that spawns a grandchild into the same group.
Task<void> parent_child(Children* c, TaskGroup* group) {
    const Life life(c);
    co_await yield_now();
    group->spawn(child(c, 1, 0));
    ++c->finished;
}

// Every child that started has ended and its frame is gone.
void check_children(const CancelPointRun& run, const Children& c, int all) {
    CHECK(c.started == c.ended);
    CHECK(Counted::alive == 0);
    if (run.end == RootEnd::completed) {
        CHECK(c.finished == all);
    } else {
        CHECK(run.end == RootEnd::cancelled);
    }
}

}  // namespace

TEST_SUITE("structured_cancel_points") {
    TEST_CASE("a TaskGroup cancelled at every point: every child (a grandchild too) ends with it") {
        std::unique_ptr<Children> c;
        cover_every_point(
            "TaskGroup",
            [&c]() -> Task<void> {
                c = std::make_unique<Children>();
                return [](Children* children) -> Task<void> {
                    auto body = [children](TaskGroup& group) -> Task<void> {
                        group.spawn(child(children, 2, 1));
                        group.spawn(child(children, 1, 2));
                        group.spawn(parent_child(children, &group));
                        co_await yield_now();
                    };
                    co_await task_group(body);
                }(c.get());
            },
            [&c](const CancelPointRun& run) { check_children(run, *c, 4); });
    }

    TEST_CASE("gather cancelled at every point: every task ends, the results are whole") {
        std::unique_ptr<Children> c;
        std::unique_ptr<std::tuple<int, int, int>> results;
        cover_every_point(
            "gather",
            [&c, &results]() -> Task<void> {
                c = std::make_unique<Children>();
                results.reset();
                return [](Children* children,
                          std::unique_ptr<std::tuple<int, int, int>>* out) -> Task<void> {
                    auto all = co_await gather(child(children, 1, 1), child(children, 3, 2),
                                               child(children, 2, 3));
                    *out = std::make_unique<std::tuple<int, int, int>>(all);
                }(c.get(), &results);
            },
            [&](const CancelPointRun& run) {
                check_children(run, *c, 3);
                if (run.end == RootEnd::completed) {
                    REQUIRE(results != nullptr);
                    CHECK(*results == std::tuple<int, int, int>{1, 2, 3});
                } else {
                    CHECK(results == nullptr);
                }
            });
    }

    TEST_CASE(
        "race cancelled at every point: the loser and the cancelled are awaited, the winner "
        "is the fastest") {
        std::unique_ptr<Children> c;
        int winner = 0;
        cover_every_point(
            "race",
            [&c, &winner]() -> Task<void> {
                c = std::make_unique<Children>();
                winner = 0;
                return [](Children* children, int* won) -> Task<void> {
                    *won = co_await race(child(children, 1, 1), child(children, 3, 2));
                }(c.get(), &winner);
            },
            [&](const CancelPointRun& run) {
                CHECK(c->started == c->ended);
                CHECK(Counted::alive == 0);
                if (run.end == RootEnd::completed) {
                    CHECK(winner == 1);
                    CHECK(c->finished == 1);  // the slower one was cancelled
                } else {
                    CHECK(run.end == RootEnd::cancelled);
                    CHECK(winner == 0);
                }
            });
    }
}
