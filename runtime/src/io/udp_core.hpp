// The shared state behind a UdpSocket: the uv_udp_t, the queue of received datagrams, the send
// requests in flight.
#pragma once

#include <uv.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "uvtask/errors.hpp"
#include "uvtask/io_error.hpp"
#include "uvtask/udp.hpp"

namespace uvtask::detail {

inline constexpr std::size_t udp_max_datagram = 64 * 1024;  // what libuv reads into at once
inline constexpr std::size_t udp_queue_limit = 256;         // datagrams read ahead at most…
inline constexpr std::size_t udp_queue_bytes_limit = 1024 * 1024;  // …and bytes

/// The libuv handle of a UdpSocket and everything its callbacks touch. Reference-counted (loop
/// thread only): the socket, each awaiter and send request, and libuv from a successful init
/// until the close callback.
class UdpCore {
public:
    struct Entry {
        std::unique_ptr<std::byte[]> bytes;
        std::size_t size = 0;
        SocketAddress sender;
        bool truncated = false;
        int error = 0;  // a receive error instead of a datagram
    };

    void retain() noexcept { ++refs_; }
    void release() noexcept {
        if (--refs_ == 0) {
            std::unique_ptr<UdpCore> owned(this);
        }
    }

    [[nodiscard]] int init(uv_loop_t* loop) noexcept {
        const int rc = uv_udp_init(loop, &handle_);
        if (rc == 0) {
            handle_.data = this;
            initialised_ = true;
            retain();  // libuv's, until the close callback
        }
        return rc;
    }

    void close() noexcept {
        const bool was_open = !closed();
        closing_ = true;
        if (!was_open) {
            return;
        }
        wake_receiver(UV_ECANCELED);
        receiving_ = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&handle_),
                 [](uv_handle_t* h) noexcept { static_cast<UdpCore*>(h->data)->release(); });
    }

    [[nodiscard]] bool closed() const noexcept { return closing_ || !initialised_; }
    [[nodiscard]] uv_udp_t* udp() noexcept { return &handle_; }
    [[nodiscard]] std::size_t queued() const noexcept { return queue_.size(); }

    // ---- receiving
    [[nodiscard]] bool receivable() const noexcept { return !queue_.empty() || lost_ != 0; }
    [[nodiscard]] UdpReceiveAwaiter* receiver() const noexcept { return receiver_; }
    void set_receiver(UdpReceiveAwaiter* receiver) noexcept { receiver_ = receiver; }

    [[nodiscard]] int start_receiving() noexcept {
        if (receiving_ || closed()) {
            return 0;
        }
        if (!scratch_) {
            try {
                scratch_ = std::make_unique_for_overwrite<std::byte[]>(udp_max_datagram);
            } catch (...) {
                return UV_ENOMEM;
            }
        }
        const int rc = uv_udp_recv_start(&handle_, &UdpCore::on_alloc, &UdpCore::on_receive);
        receiving_ = rc == 0;
        return rc;
    }

    void stop_receiving() noexcept {
        if (receiving_) {
            uv_udp_recv_stop(&handle_);
            receiving_ = false;
        }
    }

    /// The first queued datagram, copied into `out`; or throws the error queued first.
    Datagram take(std::span<std::byte> out, const char* operation) {
        if (queue_.empty()) {
            if (const int lost = std::exchange(lost_, 0); lost != 0) {
                throw_io_error(lost, operation, "out of memory: a received datagram was dropped");
            }
            // Only reachable if the queue was emptied behind the receiver's back (cannot
            // happen: one receiver at a time) — report rather than invent a datagram.
            throw InvalidStateError(std::string(operation) + ": woken without a datagram");
        }
        Entry entry = std::move(queue_.front());
        queue_.pop_front();
        queued_bytes_ -= entry.size;
        if (entry.error != 0) {
            throw_io_error(entry.error, operation);
        }
        Datagram datagram;
        datagram.size = std::min(entry.size, out.size());
        datagram.sender = entry.sender;
        datagram.truncated = entry.truncated || entry.size > out.size();
        if (datagram.size > 0) {
            std::memcpy(out.data(), entry.bytes.get(), datagram.size);
        }
        return datagram;
    }

private:
    static void on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) noexcept {
        auto* self = static_cast<UdpCore*>(handle->data);
        buf->base = reinterpret_cast<char*>(self->scratch_.get());
        buf->len = udp_max_datagram;
    }

    static void on_receive(uv_udp_t* handle, ssize_t nread, const uv_buf_t* buf,
                           const sockaddr* from, unsigned flags) noexcept {
        auto* self = static_cast<UdpCore*>(handle->data);
        if (nread == 0 && from == nullptr) {
            return;  // nothing more to read now
        }
        try {
            Entry entry;
            if (nread < 0) {
                entry.error = static_cast<int>(nread);
            } else {
                entry.size = static_cast<std::size_t>(nread);
                entry.bytes = std::make_unique_for_overwrite<std::byte[]>(entry.size);
                if (entry.size > 0) {
                    std::memcpy(entry.bytes.get(), buf->base, entry.size);
                }
                entry.sender = SocketAddress::from_native(from);
                entry.truncated = (flags & UV_UDP_PARTIAL) != 0;
            }
            self->queued_bytes_ += entry.size;
            self->queue_.push_back(std::move(entry));
        } catch (...) {
            self->lost_ = UV_ENOMEM;  // reported by the next receive
        }
        if (self->receiver_ != nullptr && self->receiver_->waiting()) {
            self->receiver_->complete(0);  // it keeps its claim until it resumes
        }
        if (self->queue_.size() >= udp_queue_limit ||
            self->queued_bytes_ >= udp_queue_bytes_limit) {
            self->stop_receiving();  // back-pressure: the kernel's buffer holds the rest
        }
    }

    void wake_receiver(int status) noexcept {
        if (receiver_ != nullptr && receiver_->waiting()) {
            receiver_->complete(status);
        }
    }

    uv_udp_t handle_{};
    int refs_ = 1;
    bool initialised_ = false;
    bool closing_ = false;
    bool receiving_ = false;
    int lost_ = 0;
    std::size_t queued_bytes_ = 0;
    UdpReceiveAwaiter* receiver_ = nullptr;
    std::unique_ptr<std::byte[]> scratch_;
    std::deque<Entry> queue_;
};

/// A `uv_udp_send_t` in flight with its own copy of the datagram: libuv's until its callback.
struct UdpSendOp {
    uv_udp_send_t req{};
    UdpSendAwaiter* waiter = nullptr;  // null once the awaiter is gone
    UdpCore* core;                     // one reference
    std::unique_ptr<std::byte[]> bytes;
    explicit UdpSendOp(UdpCore* c) noexcept : core(c) { core->retain(); }
    UdpSendOp(const UdpSendOp&) = delete;
    UdpSendOp& operator=(const UdpSendOp&) = delete;
    ~UdpSendOp() { core->release(); }
};

}  // namespace uvtask::detail
