// uvtask internals — the FIFO of tasks waiting on a synchronisation primitive.
#pragma once

#include "uvtask/detail/intrusive_list.hpp"

namespace uvtask::detail {

/// A waiter of a synchronisation primitive, living in the waiting task's awaiter (no allocation
/// to wait); a cancelled waiter unlinks itself.
struct WaitNode : ListHook<WaitNode> {};

/// A FIFO of waiters. Loop thread only.
using WaitList = IntrusiveList<WaitNode, WaitNode>;

}  // namespace uvtask::detail
