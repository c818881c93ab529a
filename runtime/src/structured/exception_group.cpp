// ExceptionGroup: an immutable, shared list of exceptions.
#include "uvtask/exception_group.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "uvtask/errors.hpp"

namespace uvtask {

namespace {
std::string describe(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (const CancelledError& e) {
        return "CancelledError(" + e.message() + ")";
    } catch (...) {
        return "unknown exception";
    }
}
}  // namespace

ExceptionGroup::ExceptionGroup(std::vector<std::exception_ptr> exceptions, std::string message) {
    for (std::size_t i = 0; i < exceptions.size(); ++i) {
        if (!exceptions[i]) {
            throw std::invalid_argument("ExceptionGroup: the exception at index " +
                                        std::to_string(i) + " is null");
        }
    }
    auto payload = std::make_shared<Payload>();
    payload->what = message + " (" + std::to_string(exceptions.size()) + " sub-exception" +
                    (exceptions.size() == 1 ? "" : "s") + ")";
    if (!exceptions.empty() && exceptions.front()) {
        payload->what += ": " + describe(exceptions.front());
    }
    payload->exceptions = std::move(exceptions);
    payload->message = std::move(message);
    payload_ = std::move(payload);
}

// A moved-from group has no payload: it reads as an empty group instead of crashing.
namespace {
const std::string no_message;
const std::vector<std::exception_ptr> no_exceptions;
}  // namespace

const char* ExceptionGroup::what() const noexcept {
    return payload_ ? payload_->what.c_str() : "ExceptionGroup (moved from)";
}

const std::string& ExceptionGroup::message() const noexcept {
    return payload_ ? payload_->message : no_message;
}

const std::vector<std::exception_ptr>& ExceptionGroup::exceptions() const noexcept {
    return payload_ ? payload_->exceptions : no_exceptions;
}

void ExceptionGroup::rethrow(std::size_t index) const {
    std::rethrow_exception(exceptions().at(index));
}

const ExceptionGroup* ExceptionGroup::nested_group(const std::exception_ptr& error) noexcept {
    try {
        std::rethrow_exception(error);
    } catch (const ExceptionGroup& nested) {
        return &nested;
    } catch (...) {
        return nullptr;
    }
}

}  // namespace uvtask
