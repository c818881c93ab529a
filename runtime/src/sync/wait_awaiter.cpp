// WaitAwaiter: the cold end of a wait — what ended it, as an exception — and its place in the
// line for Loop::tasks().
#include "uvtask/detail/wait_awaiter.hpp"

#include <cstdio>
#include <string>

#include "uvtask/errors.hpp"
#include "uvtask/queue.hpp"

namespace uvtask::detail {

void WaitAwaiter::throw_end_of_wait(const WaitTexts& texts) const {
    if (status_ == Status::misuse) {
        if (ended_ == WaitEnd::closed) {
            throw QueueClosedError(texts.closed);
        }
        throw InvalidStateError(ended_ == WaitEnd::destroyed ? texts.destroyed : texts.misuse);
    }
    finish(texts.operation);  // cancelled, or awaited outside a task: throws
    // Not reached: `await_resume` runs only once the wait has ended.
    throw InvalidStateError(std::string(texts.operation) + ": resumed before the wait ended");
}

void WaitAwaiter::describe_place(const Suspension& self, std::string& out) {
    const auto& waiter = static_cast<const WaitAwaiter&>(self);
    if (!waiter.linked() || waiter.list_ == nullptr) {
        return;  // handed its completion, waiting for its turn to run
    }
    // The place costs a walk of the line: over a long line only its length is told (a dump of
    // N waiters stays O(N), not O(N^2)).
    constexpr std::size_t longest_walked = 256;
    const std::size_t waiters = waiter.list_->size();
    char text[64];
    if (waiters <= longest_walked) {
        std::snprintf(text, sizeof text, " (waiter %zu of %zu)", waiter.list_->place_of(&waiter),
                      waiters);
    } else {
        std::snprintf(text, sizeof text, " (one of %zu waiters)", waiters);
    }
    out += text;
}

}  // namespace uvtask::detail
