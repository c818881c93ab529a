// EXPECT: Boundable|constraints not satisfied|no matching function
// A named Task given to a deadline would be silently emptied (moved from): it is refused; the
// caller writes std::move(task).
#include <uvtask/uvtask.hpp>

#include <chrono>

uvtask::Task<int> value() { co_return 1; }

uvtask::Task<void> amain() {
    uvtask::Task<int> work = value();
    const int v = co_await uvtask::with_timeout(std::chrono::seconds(1), work);
    (void)v;
}

int main() { uvtask::run(amain()); }
