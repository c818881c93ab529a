// Listener: uv_listen, and accept() as a FIFO of waiters served from the connection callback.
#include "uvtask/listener.hpp"

#include <memory>
#include <utility>

#include "io/describe.hpp"
#include "io/listener_core.hpp"
#include "uvtask/io_error.hpp"

namespace uvtask::detail {

ListenerCore* ListenerCore::create(StreamKind kind) {
    ignore_sigpipe_once();
    return std::make_unique<ListenerCore>(kind).release();
}

void ListenerCore::release() noexcept {
    if (--refs_ == 0) {
        std::unique_ptr<ListenerCore> owned(this);
    }
}

int ListenerCore::init(uv_loop_t* loop, int domain) noexcept {
    const int rc = kind_ == StreamKind::tcp
                       ? uv_tcp_init_ex(loop, &handle_.tcp, static_cast<unsigned>(domain))
                       : uv_pipe_init(loop, &handle_.pipe, 0);
    if (rc == 0) {
        handle_.handle.data = this;
        initialised_ = true;
        retain();  // libuv's, until on_closed
    }
    return rc;
}

int ListenerCore::listen(int backlog) noexcept {
    return uv_listen(&handle_.stream, backlog, &ListenerCore::on_connection);
}

void ListenerCore::close() noexcept {
    if (closing_) {
        return;
    }
    closing_ = true;
    while (AcceptAwaiterBase* waiter = head_) {
        remove(waiter);
        waiter->on_accepted(UV_ECANCELED, nullptr);
    }
    if (initialised_) {
        uv_close(&handle_.handle, &ListenerCore::on_closed);
    }
}

void ListenerCore::on_closed(uv_handle_t* handle) noexcept {
    static_cast<ListenerCore*>(handle->data)->release();
}

void ListenerCore::on_connection(uv_stream_t* server, int status) noexcept {
    auto* self = static_cast<ListenerCore*>(server->data);
    if (status < 0) {
        if (AcceptAwaiterBase* waiter = self->head_) {
            self->remove(waiter);
            waiter->on_accepted(status, nullptr);
        } else {
            self->error_ = status;  // for the next accept()
        }
        return;
    }
    // libuv accepted one socket and, until uv_accept takes it, stops watching the listener.
    ++self->pending_;
    self->serve_waiters();
}

void ListenerCore::serve_waiters() noexcept {
    while (head_ != nullptr && ready()) {
        StreamCore* accepted = nullptr;
        const int rc = take(&accepted);
        if (rc == UV_EAGAIN) {
            return;  // nothing to take after all: the waiter keeps waiting
        }
        AcceptAwaiterBase* waiter = head_;
        remove(waiter);
        waiter->on_accepted(rc, accepted);
    }
}

int ListenerCore::take(StreamCore** out) noexcept {
    if (error_ != 0) {
        return std::exchange(error_, 0);
    }
    if (pending_ == 0) {
        return UV_EAGAIN;
    }
    StreamCore* client = nullptr;
    try {
        client = StreamCore::create(kind_);
    } catch (...) {
        return UV_ENOMEM;  // the connection stays with libuv for a later accept()
    }
    int rc = client->init(handle_.handle.loop);
    if (rc == 0) {
        rc = uv_accept(&handle_.stream, client->stream());
    }
    if (rc < 0) {
        client->close();
        client->release();
        if (rc == UV_EAGAIN) {
            pending_ = 0;
        }
        return rc;
    }
    --pending_;
    *out = client;
    return 0;
}

void ListenerCore::enqueue(AcceptAwaiterBase* waiter) noexcept {
    waiter->next = nullptr;
    waiter->prev = tail_;
    (tail_ != nullptr ? tail_->next : head_) = waiter;
    tail_ = waiter;
    waiter->linked = true;
}

void ListenerCore::remove(AcceptAwaiterBase* waiter) noexcept {
    if (!waiter->linked) {
        return;
    }
    (waiter->prev != nullptr ? waiter->prev->next : head_) = waiter->next;
    (waiter->next != nullptr ? waiter->next->prev : tail_) = waiter->prev;
    waiter->prev = waiter->next = nullptr;
    waiter->linked = false;
}

// ---- AcceptAwaiterBase

AcceptAwaiterBase::AcceptAwaiterBase(ListenerCore* core) noexcept : core_(core) {
    if (core_ != nullptr) {
        core_->retain();
    }
}

AcceptAwaiterBase::~AcceptAwaiterBase() {
    if (core_ != nullptr) {
        core_->remove(this);
        core_->release();
    }
    if (accepted_ != nullptr) {
        accepted_->close();  // accepted, but the task never took it (frame destroyed)
        accepted_->release();
    }
}

namespace {
constexpr WaitInfo accept_wait{"accept", &AcceptAwaiterBase::describe};
}  // namespace

void AcceptAwaiterBase::describe(const Suspension& self, std::string& out) {
    append_handle(reinterpret_cast<const uv_handle_t*>(
                      static_cast<const AcceptAwaiterBase&>(self).core_->stream()),
                  out);
}

bool AcceptAwaiterBase::await_suspend(std::coroutine_handle<> resume_at) noexcept {
    if (!begin()) {
        return false;
    }
    if (core_ == nullptr || core_->closed()) {
        return done_now(UV_EBADF);
    }
    if (core_->ready()) {
        const int rc = core_->take(&accepted_);
        if (rc != UV_EAGAIN) {
            return done_now(rc);
        }
    }
    core_->enqueue(this);
    park(resume_at, &on_cancel, accept_wait);
    return true;
}

void AcceptAwaiterBase::on_accepted(int status, StreamCore* accepted) noexcept {
    accepted_ = accepted;
    complete(status);
}

void AcceptAwaiterBase::on_cancel(Suspension* self) noexcept {
    // Nothing was taken from libuv: a connection arriving later waits for the next accept().
    auto* awaiter = static_cast<AcceptAwaiterBase*>(self);
    awaiter->core_->remove(awaiter);
    awaiter->complete_cancelled();
}

StreamCore* AcceptAwaiterBase::resume_core() {
    finish("accept");
    if (result_ < 0) {
        throw_io_error(result_, "accept",
                       result_ == UV_ECANCELED ? "listener closed while accepting"
                       : result_ == UV_EBADF   ? "listener is closed"
                                               : "");
    }
    return std::exchange(accepted_, nullptr);
}

}  // namespace uvtask::detail

namespace uvtask {

Listener::Listener(Listener&& other) noexcept : core_(std::exchange(other.core_, nullptr)) {}

Listener& Listener::operator=(Listener&& other) noexcept {
    if (this != &other) {
        if (core_ != nullptr) {
            core_->close();
            core_->release();
        }
        core_ = std::exchange(other.core_, nullptr);
    }
    return *this;
}

Listener::~Listener() {
    if (core_ != nullptr) {
        core_->close();
        core_->release();
    }
}

void Listener::close() noexcept {
    if (core_ != nullptr) {
        core_->close();
    }
}

bool Listener::is_open() const noexcept { return core_ != nullptr && !core_->closed(); }

uv_stream_t* Listener::native_handle() const noexcept {
    return is_open() ? core_->stream() : nullptr;
}

}  // namespace uvtask
