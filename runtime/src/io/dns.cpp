// resolve(): uv_getaddrinfo with a heap request that libuv owns until its callback.
#include "uvtask/dns.hpp"

#include <memory>
#include <utility>

#include "io/stream_core.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

namespace {
constexpr WaitInfo resolve_wait{"resolve (DNS)"};
}  // namespace

struct ResolveOp {
    uv_getaddrinfo_t req{};
    ResolveAwaiter* waiter = nullptr;  // null once the awaiter is gone
};

ResolveAwaiter::ResolveAwaiter(std::string host, std::uint16_t port,
                               ResolveOptions options) noexcept
    : host_(std::move(host)), port_(port), options_(options) {}

ResolveAwaiter::~ResolveAwaiter() {
    if (op_ != nullptr) {
        op_->waiter = nullptr;  // the callback frees the request (and any result)
        uv_cancel(reinterpret_cast<uv_req_t*>(&op_->req));
    }
    if (list_ != nullptr) {
        uv_freeaddrinfo(list_);
    }
}

bool ResolveAwaiter::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    auto* op = try_make<ResolveOp>();
    if (op == nullptr) {
        return done_now(UV_ENOMEM);
    }
    op->req.data = op;
    addrinfo hints{};
    hints.ai_family = options_.family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    // No AI_ADDRCONFIG: it hides loopback addresses on a machine without other interfaces.
    const std::string service = std::to_string(port_);
    const int rc = uv_getaddrinfo(
        loop().native(), &op->req,
        [](uv_getaddrinfo_t* req, int status, addrinfo* list) noexcept {
            std::unique_ptr<ResolveOp> owned(static_cast<ResolveOp*>(req->data));
            if (owned->waiter != nullptr) {
                owned->waiter->on_resolved(status, list);
            } else if (list != nullptr) {
                uv_freeaddrinfo(list);
            }
        },
        host_.c_str(), service.c_str(), &hints);  // libuv copies the strings and hints
    if (rc < 0) {
        std::unique_ptr<ResolveOp> owned(op);
        return done_now(rc);
    }
    op->waiter = this;
    op_ = op;
    park(resume_at, &on_cancel, resolve_wait);
    return true;
}

void ResolveAwaiter::on_resolved(int status, addrinfo* list) noexcept {
    op_ = nullptr;
    list_ = list;
    if (status == UV_EAI_CANCELED && cancel_seen_) {
        complete_cancelled();
    } else {
        complete(status);
    }
}

void ResolveAwaiter::on_cancel(Suspension* self) noexcept {
    auto* awaiter = static_cast<ResolveAwaiter*>(self);
    if (awaiter->cancel_seen_) {
        return;
    }
    awaiter->cancel_seen_ = true;
    // Succeeds only while the request waits for a pool thread; the callback then reports
    // UV_EAI_CANCELED. Otherwise the lookup runs to its end and its result is delivered.
    uv_cancel(reinterpret_cast<uv_req_t*>(&awaiter->op_->req));
}

std::vector<SocketAddress> ResolveAwaiter::await_resume() {
    finish("resolve");
    if (result_ < 0) {
        throw_io_error(result_, "resolve", host_);
    }
    std::vector<SocketAddress> addresses;
    for (const addrinfo* entry = list_; entry != nullptr; entry = entry->ai_next) {
        if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) {
            continue;
        }
        SocketAddress address = SocketAddress::from_native(entry->ai_addr);
        bool seen = false;
        for (const SocketAddress& other : addresses) {
            seen = seen || other == address;
        }
        if (!seen) {
            addresses.push_back(address);
        }
    }
    if (addresses.empty()) {
        throw_io_error(UV_EAI_NONAME, "resolve", host_);
    }
    return addresses;
}

}  // namespace uvtask::detail
