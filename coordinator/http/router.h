#pragma once
// Method + path pattern -> handler. Patterns are literal segments and `{name}` parameters:
//   router.add(verb::get, "/v1/adapters/{task}/{ref}", {Role::user, Role::admin}, handler);
// Each path segment is percent-decoded before matching; a segment that decodes to something
// containing '/' or NUL, or a bad %-escape, is 400 (so "%2F" cannot smuggle a separator). Decoded
// parameters are handed over as they are: handlers validate them (the registry's name checks
// refuse "..", "." and anything not matching [a-z0-9][a-z0-9._-]*). No route: 404; a route with
// another method: 405 with Allow. Routes with roles check the bearer token first (auth.h).
// A trellis::Error escaping a handler answers through the one mapping of error codes
// (error_response(req, Error)); any other exception becomes a 500 "internal" with a JSON error body.
//
// Thread-safety: add() before serving; handle() is then const and may run on any thread.
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/http/auth.h"
#include "coordinator/http/http_types.h"

namespace trellis::http {

// Whether the client has closed or reset its connection (set by the server for asynchronous
// routes; empty otherwise). Call only before answering, from any thread. A client that only
// half-closed (shut down its sending side) counts as gone too.
using ClientGone = std::function<bool()>;

struct RouteContext {
  PathParams params;                         // {name} -> decoded segment
  std::map<std::string, std::string> query;  // decoded query parameters (last one wins)
  ClientGone client_gone;                    // asynchronous routes on a server only
};

using Handler = std::function<Response(const Request&, const RouteContext&)>;
// Completes a request. Call exactly once, from any thread (the server hops to the connection's
// strand). Copyable; holds the connection alive until called.
using Responder = std::function<void(Response)>;
// An asynchronous handler (long-polls): owns the request copy it needs, answers through `done`
// later. It may also call `done` before returning. Exceptions thrown before it returns become 500.
using AsyncHandler = std::function<void(const Request&, RouteContext, Responder done)>;
// Called once per answered request with the route's pattern ("unmatched" when none), the status
// and the seconds from dispatch to the response. Must be thread-safe.
using RequestObserver =
    std::function<void(const std::string& route, beast_http::verb method, unsigned status, double seconds)>;

class Router {
 public:
  explicit Router(const TokenStore& tokens) : tokens_(tokens) {}
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // `roles` empty: no authentication (e.g. /healthz).
  void add(beast_http::verb method, std::string pattern, std::set<Role> roles, Handler handler);
  void add_async(beast_http::verb method, std::string pattern, std::set<Role> roles, AsyncHandler handler);
  void set_observer(RequestObserver observer) { observer_ = std::move(observer); }

  // Synchronous dispatch (tests; an asynchronous route blocks this thread until it answers, so
  // never call it on a thread the answer needs).
  Response handle(const Request& req) const;
  // The server's entry point: answers through `done` (at once for synchronous routes).
  // `client_gone` goes to an asynchronous route's context.
  void dispatch(const Request& req, Responder done, ClientGone client_gone = {}) const;

 private:
  struct Route {
    beast_http::verb method;
    std::vector<std::string> segments;  // "{x}" for parameters
    std::set<Role> roles;
    Handler handler;  // one of handler / async_handler is set
    AsyncHandler async_handler;
    std::string pattern;
  };
  struct Match {
    const Route* route = nullptr;  // null: `error` says why
    RouteContext ctx;
    std::optional<StringResponse> error;
  };
  Match match(const Request& req) const;
  void add_route(Route route);  // splits route.pattern into segments

  const TokenStore& tokens_;
  std::vector<Route> routes_;
  RequestObserver observer_;
};

// Percent-decoding of one path segment or query component ('+' is a space only in queries).
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space = false);

}  // namespace trellis::http
