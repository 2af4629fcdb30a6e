#include "coordinator/http/router.h"

#include <exception>

#include "coordinator/http/json_response.h"

namespace trellis::http {

namespace {

std::vector<std::string_view> split(std::string_view path, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = path.find(sep, start);
    if (end == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void Router::add(beast_http::verb method, std::string pattern, std::set<Role> roles, Handler handler) {
  Route route{method, {}, std::move(roles), std::move(handler)};
  for (std::string_view s : split(std::string_view(pattern).substr(1), '/')) route.segments.emplace_back(s);
  routes_.push_back(std::move(route));
}

Response Router::handle(const Request& req) const {
  const std::string_view target(req.target().data(), req.target().size());
  if (target.empty() || target.front() != '/')
    return error_response(req, beast_http::status::bad_request, "invalid", "the request target must be a path");
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  RouteContext ctx;
  if (q != std::string_view::npos) {
    for (std::string_view pair : split(target.substr(q + 1), '&')) {
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!key || !value)
        return error_response(req, beast_http::status::bad_request, "invalid", "bad %-escape in the query");
      ctx.query[*key] = *value;
    }
  }
  std::vector<std::string> segments;
  for (std::string_view raw : split(path.substr(1), '/')) {
    auto decoded = percent_decode(raw);
    if (!decoded || decoded->find('/') != std::string::npos || decoded->find('\0') != std::string::npos)
      return error_response(req, beast_http::status::bad_request, "invalid",
                            "bad path segment (a bad %-escape, or an encoded '/' or NUL)");
    segments.push_back(std::move(*decoded));
  }

  std::string allow;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    PathParams params;
    bool match = true;
    for (size_t i = 0; i < segments.size() && match; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        if (segments[i].empty()) match = false;
        else params[want.substr(1, want.size() - 2)] = segments[i];
      } else if (want != segments[i]) {
        match = false;
      }
    }
    if (!match) continue;
    if (route.method != req.method()) {
      const auto name = beast_http::to_string(route.method);
      allow += (allow.empty() ? "" : ", ") + std::string(name.data(), name.size());
      continue;
    }
    if (!route.roles.empty())
      if (auto denied = tokens_.check(req, route.roles)) return std::move(*denied);
    ctx.params = std::move(params);
    try {
      return route.handler(req, ctx);
    } catch (const std::exception& e) {
      return error_response(req, beast_http::status::internal_server_error, "internal", e.what());
    }
  }
  if (!allow.empty()) {
    auto res = error_response(req, beast_http::status::method_not_allowed, "method_not_allowed",
                              "method not allowed here (allowed: " + allow + ")");
    res.set(beast_http::field::allow, allow);
    return res;
  }
  return error_response(req, beast_http::status::not_found, "not_found", "no such endpoint: " + std::string(path));
}

}  // namespace trellis::http
