// uvtask — resolve(): host name resolution (uv_getaddrinfo) as a cancellable awaitable.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <uv.h>

#include <coroutine>
#include <cstdint>
#include <string>
#include <vector>

#include "uvtask/address.hpp"
#include "uvtask/detail/io_awaiter.hpp"

namespace uvtask {

/// Options of `resolve` (a plain value).
struct ResolveOptions {
    /// `AF_UNSPEC` (IPv4 and IPv6), `AF_INET` or `AF_INET6`.
    int family = AF_UNSPEC;
};

namespace detail {

struct ResolveOp;

class ResolveAwaiter : public IoAwaiter {
public:
    ResolveAwaiter(std::string host, std::uint16_t port, ResolveOptions options) noexcept;
    ~ResolveAwaiter();
    [[nodiscard]] bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> resume_at) noexcept;
    std::vector<SocketAddress> await_resume();
    auto await_resume_outcome() noexcept { return resume_outcome(*this); }
    /// The request's callback: `list` (owned from now on) or an error.
    void on_resolved(int status, addrinfo* list) noexcept;

private:
    static void on_cancel(Suspension* self) noexcept;
    std::string host_;
    std::uint16_t port_;
    ResolveOptions options_;
    ResolveOp* op_ = nullptr;  // heap: libuv's until its callback
    addrinfo* list_ = nullptr;
};

}  // namespace detail

/// Resolves `host` (a name or a numeric address) to the socket addresses for TCP connections on
/// `port`, in the resolver's order, without duplicates. Runs `getaddrinfo` on libuv's thread
/// pool (`uv_getaddrinfo`; the system resolver: /etc/hosts, DNS…).
///
/// Completes when: the lookup has ended (the task resumes from the ready queue).
/// Suspension point: yes; a pending cancel is thrown at once, without starting the lookup.
/// On cancel: while the request waits for a pool thread, it is `uv_cancel`led and
/// `CancelledError` is thrown at once (on the next loop iteration). If the lookup is already
/// running it cannot be stopped: the task waits for it, gets its result (atomic completion) and
/// the cancel is delivered at the next suspension point.
/// Throws: `IoError` (operation "resolve", detail `host`) — e.g. `EAI_NONAME` for a name that
/// does not exist, `EAI_AGAIN` when no DNS server answers; `CancelledError`;
/// `InvalidStateError` outside a task; `std::bad_alloc`. Calling `resolve` itself throws nothing.
/// Thread safety: the awaiting task's loop thread.
[[nodiscard]] inline detail::ResolveAwaiter resolve(std::string host, std::uint16_t port,
                                                    ResolveOptions options = {}) noexcept {
    return {std::move(host), port, options};
}

}  // namespace uvtask
