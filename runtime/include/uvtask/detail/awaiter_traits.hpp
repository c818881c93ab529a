// uvtask internals — what `co_await` makes of an awaitable: its awaiter and its result type.
#pragma once

#include <concepts>
#include <type_traits>
#include <utility>

namespace uvtask::detail {

template <class A>
concept HasMemberCoAwait = requires(A&& a) { static_cast<A&&>(a).operator co_await(); };

template <class W>
concept AwaiterShape = requires(W& w) {
    { w.await_ready() } -> std::convertible_to<bool>;
    w.await_resume();
};

/// The awaiter `co_await` uses for an `A`: what its member `operator co_await` returns, or the
/// `A` itself when it is an awaiter.
template <class A>
struct AwaiterOf {};
template <class A>
    requires HasMemberCoAwait<A>
struct AwaiterOf<A> {
    using type = decltype(std::declval<A>().operator co_await());
};
template <class A>
    requires(!HasMemberCoAwait<A> && AwaiterShape<std::remove_reference_t<A>>)
struct AwaiterOf<A> {
    using type = std::remove_reference_t<A>;
};

/// What `co_await` on an `A` returns (without references and cv-qualifiers).
template <class A>
using await_result_t = std::remove_cvref_t<
    decltype(std::declval<std::remove_reference_t<typename AwaiterOf<A>::type>&>().await_resume())>;

}  // namespace uvtask::detail
