#include "coordinator/http/router.h"

#include <atomic>
#include <chrono>
#include <exception>
#include <future>

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
  add_route(Route{method, {}, std::move(roles), std::move(handler), {}, std::move(pattern)});
}

void Router::add_async(beast_http::verb method, std::string pattern, std::set<Role> roles, AsyncHandler handler) {
  add_route(Route{method, {}, std::move(roles), {}, std::move(handler), std::move(pattern)});
}

void Router::add_route(Route route) {
  for (std::string_view s : split(std::string_view(route.pattern).substr(1), '/')) route.segments.emplace_back(s);
  routes_.push_back(std::move(route));
}

Response Router::handle(const Request& req) const {
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  dispatch(req, [promise](Response r) { promise->set_value(std::move(r)); });
  return future.get();
}

Router::Match Router::match(const Request& req) const {
  Match m;
  const std::string_view target(req.target().data(), req.target().size());
  if (target.empty() || target.front() != '/') {
    m.error = error_response(req, beast_http::status::bad_request, "invalid", "the request target must be a path");
    return m;
  }
  const size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    for (std::string_view pair : split(target.substr(q + 1), '&')) {
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!key || !value) {
        m.error = error_response(req, beast_http::status::bad_request, "invalid", "bad %-escape in the query");
        return m;
      }
      m.ctx.query[*key] = *value;
    }
  }
  std::vector<std::string> segments;
  for (std::string_view raw : split(path.substr(1), '/')) {
    auto decoded = percent_decode(raw);
    if (!decoded || decoded->find('/') != std::string::npos || decoded->find('\0') != std::string::npos) {
      m.error = error_response(req, beast_http::status::bad_request, "invalid",
                               "bad path segment (a bad %-escape, or an encoded '/' or NUL)");
      return m;
    }
    segments.push_back(std::move(*decoded));
  }

  std::string allow;
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    PathParams params;
    bool matched = true;
    for (size_t i = 0; i < segments.size() && matched; ++i) {
      const std::string& want = route.segments[i];
      if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
        if (segments[i].empty()) matched = false;
        else params[want.substr(1, want.size() - 2)] = segments[i];
      } else if (want != segments[i]) {
        matched = false;
      }
    }
    if (!matched) continue;
    if (route.method != req.method()) {
      const auto name = beast_http::to_string(route.method);
      allow += (allow.empty() ? "" : ", ") + std::string(name.data(), name.size());
      continue;
    }
    m.route = &route;
    m.ctx.params = std::move(params);
    return m;
  }
  if (!allow.empty()) {
    auto res = error_response(req, beast_http::status::method_not_allowed, "method_not_allowed",
                              "method not allowed here (allowed: " + allow + ")");
    res.set(beast_http::field::allow, allow);
    m.error = std::move(res);
    return m;
  }
  m.error = error_response(req, beast_http::status::not_found, "not_found", "no such endpoint: " + std::string(path));
  return m;
}

void Router::dispatch(const Request& req, Responder done, ClientGone client_gone) const {
  Match m = match(req);
  if (observer_) {
    done = [inner = std::move(done), observer = &observer_, start = std::chrono::steady_clock::now(),
            method = req.method(), route = m.route ? m.route->pattern : std::string("unmatched")](Response r) {
      const unsigned status = static_cast<unsigned>(status_of(r));
      inner(std::move(r));
      (*observer)(route, method, status,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
  }
  if (m.error) return done(std::move(*m.error));
  const Route& route = *m.route;
  if (!route.roles.empty())
    if (auto denied = tokens_.check(req, route.roles)) return done(std::move(*denied));
  if (route.handler) {
    Response response = [&]() -> Response {
      try {
        return route.handler(req, m.ctx);
      } catch (const Error& e) {  // a route that did not catch it: still the one mapping of codes
        return error_response(req, e);
      } catch (const std::exception& e) {
        return error_response(req, beast_http::status::internal_server_error, "internal", e.what());
      }
    }();
    return done(std::move(response));
  }
  // Exactly one answer even if the handler throws after answering.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Responder once = [answered, done = std::move(done)](Response r) {
    if (!answered->exchange(true)) done(std::move(r));
  };
  m.ctx.client_gone = std::move(client_gone);
  try {
    route.async_handler(req, std::move(m.ctx), once);
  } catch (const Error& e) {
    once(error_response(req, e));
  } catch (const std::exception& e) {
    once(error_response(req, beast_http::status::internal_server_error, "internal", e.what()));
  }
}

}  // namespace trellis::http
