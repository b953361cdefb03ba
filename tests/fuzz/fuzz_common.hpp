// tests/fuzz/fuzz_common.hpp: what every libFuzzer target here shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <utility>

// An invariant the code under test promises. A failure aborts, which libFuzzer reports as a
// crash and saves the input.
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace fuzz {

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) noexcept {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits `in` at the first `sep`: the part before and the rest (the rest is empty without one).
inline std::pair<std::string_view, std::string_view> split_once(std::string_view in,
                                                                char sep) noexcept {
  const auto at = in.find(sep);
  if (at == std::string_view::npos) return {in, {}};
  return {in.substr(0, at), in.substr(at + 1)};
}

}  // namespace fuzz
