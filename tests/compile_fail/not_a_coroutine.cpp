// EXPECT: return-type|does not return a value|no return statement
// A task group body with no co_await or co_return is not a coroutine: it would flow off its end
// (undefined behaviour, a crash). Including uvtask makes that a compile error.
#include <uvtask/uvtask.hpp>

uvtask::Task<void> child() { co_return; }

uvtask::Task<void> body(uvtask::TaskGroup& group) {
    group.spawn(child());
}

uvtask::Task<void> amain() { co_await uvtask::task_group(body); }

int main() { uvtask::run(amain()); }
