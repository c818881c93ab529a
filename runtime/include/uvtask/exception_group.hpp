// uvtask — ExceptionGroup: every failure of a TaskGroup, each retrievable by type.
#pragma once

#include "uvtask/detail/require_cxx20.hpp"

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace uvtask {

/// Several exceptions at once: what a `TaskGroup` throws when its children (or its body) failed
/// (Python's `ExceptionGroup`). Holds every failure, in the order they happened — the body's own
/// exception, if any, last — as `std::exception_ptr`s: rethrow any of them, or look them up by
/// type. A nested ExceptionGroup (a child that ran its own group) is kept as one element; the
/// typed look-ups search inside nested groups too, depth first. One a `TaskGroup` throws never
/// contains a `CancelledError`. Copying is cheap and never throws (the list is shared and
/// immutable); a moved-from group reads as an empty one ("ExceptionGroup (moved from)").
///
/// Thread safety: immutable once built — const members may be called from any thread at once.
/// Every member returns at once, is not a suspension point, and is not cancellable.
class ExceptionGroup : public std::exception {
public:
    /// A group of `exceptions` (in that order) described by `message`. `exceptions` should not
    /// be empty (an empty list only gets "<message> (0 sub-exceptions)").
    /// Throws: `std::invalid_argument` naming the index if an element is null (the look-ups
    /// rethrow each one); `std::bad_alloc`.
    explicit ExceptionGroup(std::vector<std::exception_ptr> exceptions,
                            std::string message = "unhandled errors in a task group");

    /// "<message> (N sub-exceptions): <first one's what()>". Throws nothing.
    [[nodiscard]] const char* what() const noexcept override;
    /// The message given at construction. Throws nothing.
    [[nodiscard]] const std::string& message() const noexcept;
    /// Every exception, in order. Throws nothing.
    [[nodiscard]] const std::vector<std::exception_ptr>& exceptions() const noexcept;
    /// How many exceptions (top level). Throws nothing.
    [[nodiscard]] std::size_t size() const noexcept { return exceptions().size(); }

    /// The first exception of type `E` (or derived), searching nested groups; null if none. The
    /// pointer stays valid as long as this group (or a copy of it) lives.
    /// Throws: nothing in practice (each look-up rethrows and catches internally).
    template <class E>
    [[nodiscard]] const E* first_of() const {
        for (const std::exception_ptr& error : exceptions()) {
            if (const E* found = match<E>(error)) {
                return found;
            }
        }
        return nullptr;
    }
    /// True if an exception of type `E` is in the group (nested groups included). Throws as
    /// `first_of`.
    template <class E>
    [[nodiscard]] bool contains() const {
        return first_of<E>() != nullptr;
    }
    /// Every exception of type `E` (nested groups flattened), in order. Throws `std::bad_alloc`.
    template <class E>
    [[nodiscard]] std::vector<std::exception_ptr> all_of() const {
        std::vector<std::exception_ptr> out;
        collect<E>(out);
        return out;
    }
    /// Rethrows the first exception of type `E` — the original object, so `catch (const E&)`
    /// sees it as thrown — or returns if there is none. Throws: that exception;
    /// `std::bad_alloc`.
    template <class E>
    void rethrow_first_of() const {
        std::vector<std::exception_ptr> found = all_of<E>();
        if (!found.empty()) {
            std::rethrow_exception(found.front());
        }
    }
    /// Rethrows exception `index` (top level). Throws: that exception; `std::out_of_range` if
    /// there is none.
    [[noreturn]] void rethrow(std::size_t index) const;

private:
    struct Payload {
        std::vector<std::exception_ptr> exceptions;
        std::string message;
        std::string what;
    };

    // Each look-up rethrows and catches; when E is ExceptionGroup or one of its bases, a nested
    // group is itself a match (and a second handler would be dead code).
    template <class E>
    static const E* match(const std::exception_ptr& error) {
        try {
            std::rethrow_exception(error);
        } catch (const E& e) {
            return &e;
        } catch (...) {
            if constexpr (!std::is_base_of_v<E, ExceptionGroup>) {
                if (const ExceptionGroup* nested = nested_group(error)) {
                    return nested->first_of<E>();
                }
            }
            return nullptr;
        }
    }
    template <class E>
    void collect(std::vector<std::exception_ptr>& out) const {
        for (const std::exception_ptr& error : exceptions()) {
            bool matched = false;
            try {
                std::rethrow_exception(error);
            } catch (const E&) {
                matched = true;
            } catch (...) {
            }
            if (matched) {
                out.push_back(error);
            } else if constexpr (!std::is_base_of_v<E, ExceptionGroup>) {
                if (const ExceptionGroup* nested = nested_group(error)) {
                    nested->collect<E>(out);
                }
            }
        }
    }
    /// The group `error` holds, or null.
    static const ExceptionGroup* nested_group(const std::exception_ptr& error) noexcept;

    std::shared_ptr<const Payload> payload_;
};

}  // namespace uvtask
