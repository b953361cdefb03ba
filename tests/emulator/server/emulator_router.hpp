// Internal: the route table. Built-in endpoints (token, protected resource, JWKS) and the ones
// later issues add (managed identity sources, OIDC) are all entries here, keyed by method and a
// path pattern, so adding an endpoint is adding a function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "emulator.hpp"

namespace azid_emulator::detail {

class Router {
 public:
  /// `pattern` segments: literals (compared case-insensitively, as Entra does), `{name}` for one
  /// non-empty segment, and a final `{*name}` for the remainder (possibly empty).
  void add(std::string method, std::string_view pattern, Handler handler);

  struct Found {
    Handler handler;
    RouteMatch match;
  };
  /// Looks up `path` (no query string). Later routes win. On a miss, `allowed` lists the methods
  /// of routes whose pattern matched (non-empty means 405 rather than 404).
  bool find(std::string_view method, std::string_view path, Found& found,
            std::vector<std::string>& allowed) const;

 private:
  struct Segment {
    enum class Kind { literal, param, rest } kind;
    std::string text;  // literal text or parameter name
  };
  struct Route {
    std::string method;
    std::vector<Segment> segments;
    Handler handler;
  };
  static bool match(const Route& route, const std::vector<std::string_view>& parts,
                    RouteMatch& out);
  std::vector<Route> routes_;
};

/// "/a/b" -> {"a", "b"}; "/" -> {""}.
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace azid_emulator::detail
