// WaitAwaiter: the cold end of a wait — what ended it, as an exception.
#include "uvtask/detail/wait_awaiter.hpp"

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

}  // namespace uvtask::detail
