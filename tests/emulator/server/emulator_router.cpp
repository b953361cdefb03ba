#include "emulator_router.hpp"

#include <stdexcept>

#include "emulator_http.hpp"

namespace azid_emulator::detail {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

void Router::add(std::string method, std::string_view pattern, Handler handler) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/'");
  Route route{std::move(method), {}, std::move(handler)};
  const auto parts = split_path(pattern);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string_view p = parts[i];
    if (p.size() >= 3 && p.front() == '{' && p.back() == '}') {
      if (p[1] == '*') {
        if (i + 1 != parts.size()) throw std::invalid_argument("{*name} must be the last segment");
        route.segments.push_back({Segment::Kind::rest, std::string(p.substr(2, p.size() - 3))});
      } else {
        route.segments.push_back({Segment::Kind::param, std::string(p.substr(1, p.size() - 2))});
      }
    } else {
      route.segments.push_back({Segment::Kind::literal, std::string(p)});
    }
  }
  routes_.push_back(std::move(route));
}

bool Router::match(const Route& route, const std::vector<std::string_view>& parts,
                   RouteMatch& out) {
  out.params.clear();
  std::size_t i = 0;
  for (const auto& seg : route.segments) {
    if (seg.kind == Segment::Kind::rest) {
      std::string rest;
      for (std::size_t j = i; j < parts.size(); ++j) {
        if (j != i) rest += '/';
        rest += percent_decode(parts[j], false);
      }
      out.params.emplace_back(seg.text, std::move(rest));
      return true;
    }
    if (i >= parts.size()) return false;
    if (seg.kind == Segment::Kind::literal) {
      if (!iequals(seg.text, parts[i])) return false;
    } else {
      if (parts[i].empty()) return false;
      out.params.emplace_back(seg.text, percent_decode(parts[i], false));
    }
    ++i;
  }
  return i == parts.size();
}

bool Router::find(std::string_view method, std::string_view path, Found& found,
                  std::vector<std::string>& allowed) const {
  allowed.clear();
  const auto parts = split_path(path);
  RouteMatch m;
  for (auto it = routes_.rbegin(); it != routes_.rend(); ++it) {
    if (!match(*it, parts, m)) continue;
    if (it->method == "*" || it->method == method) {
      found.handler = it->handler;
      found.match = std::move(m);
      return true;
    }
    allowed.push_back(it->method);
  }
  return false;
}

}  // namespace azid_emulator::detail
