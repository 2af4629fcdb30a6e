#include "coordinator/api/api_request.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "coordinator/http/json_response.h"
#include "common/error.h"
#include "common/files.h"

namespace trellis::api {

namespace bh = http::beast_http;

nlohmann::json body_object(const http::Request& req) {
  nlohmann::json j;
  try {
    j = parse_json_text(req.body(), "request body");
  } catch (const Error& e) {
    throw BadRequest(e.what());
  }
  if (!j.is_object()) throw BadRequest("request body: expected a JSON object");
  return j;
}

std::optional<int64_t> query_int(const http::RouteContext& ctx, const std::string& name, int64_t min, int64_t max) {
  auto it = ctx.query.find(name);
  if (it == ctx.query.end()) return std::nullopt;
  const std::string& text = it->second;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < min || v > max)
    throw BadRequest("query parameter '" + name + "' must be an integer in [" + std::to_string(min) + ", " +
                     std::to_string(max) + "], got '" + text.substr(0, 40) + "'");
  return v;
}

std::optional<double> query_seconds(const http::RouteContext& ctx, const std::string& name, double max) {
  auto it = ctx.query.find(name);
  if (it == ctx.query.end()) return std::nullopt;
  const std::string& text = it->second;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0 || v > max)
    throw BadRequest("query parameter '" + name + "' must be seconds in [0, " + std::to_string(static_cast<int>(max)) +
                     "], got '" + text.substr(0, 40) + "'");
  return v;
}

http::Response guarded(const http::Request& req, const std::function<http::Response()>& f) {
  try {
    return f();
  } catch (const Error& e) {
    return http::error_response(req, e);
  }
}

http::StringResponse no_content(const http::Request& req) {
  http::StringResponse res{bh::status::no_content, req.version()};
  res.keep_alive(req.keep_alive());
  return res;
}

}  // namespace trellis::api
