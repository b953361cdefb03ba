// azid/detail/type_list.hpp: the few compile-time list algorithms DefaultAzureCredential needs
// (list, size_v, contains_v, index_of_v, remove_all_t, rename_t), in mp11's vocabulary but
// without the dependency (ARCHITECTURE.md, "hand-written type lists").
#pragma once

#include <cstddef>
#include <type_traits>

#include "azid/config.hpp"

AZID_BEGIN
namespace detail {

/// A list of types; never instantiated as an object at run time.
template <class... T>
struct list {};

template <class L>
struct size;
template <class... T>
struct size<list<T...>> : std::integral_constant<std::size_t, sizeof...(T)> {};
template <class L>
inline constexpr std::size_t size_v = size<L>::value;

template <class L, class T>
struct contains;
template <class... Ts, class T>
struct contains<list<Ts...>, T> : std::bool_constant<(std::is_same_v<Ts, T> || ...)> {};
/// True when T is an element of L.
template <class L, class T>
inline constexpr bool contains_v = contains<L, T>::value;

template <class L, class T>
struct index_of;
template <class... Ts, class T>
struct index_of<list<Ts...>, T> {
  static constexpr std::size_t compute() noexcept {
    std::size_t i = 0;
    bool found = false;
    ((found = found || std::is_same_v<Ts, T>, i += found ? 0 : 1), ...);
    return i;
  }
  static constexpr std::size_t value = compute();
};
/// Position of the first T in L; size_v<L> when absent.
template <class L, class T>
inline constexpr std::size_t index_of_v = index_of<L, T>::value;

// Concatenation; only ever named inside decltype (found by ADL on list).
template <class... A, class... B>
list<A..., B...> operator+(list<A...>, list<B...>);

template <class L, class R>
struct remove_all;
template <class... Ts, class R>
struct remove_all<list<Ts...>, R> {
  using type =
      decltype((list<>{} + ... + std::conditional_t<contains_v<R, Ts>, list<>, list<Ts>>{}));
};
/// L without every element that appears in R (order kept).
template <class L, class R>
using remove_all_t = typename remove_all<L, R>::type;

template <class L, template <class...> class F>
struct rename;
template <class... Ts, template <class...> class F>
struct rename<list<Ts...>, F> {
  using type = F<Ts...>;
};
/// F<Ts...> for L = list<Ts...>.
template <class L, template <class...> class F>
using rename_t = typename rename<L, F>::type;

}  // namespace detail
AZID_END
