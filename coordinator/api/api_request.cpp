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

std::string string_field(const nlohmann::json& obj, const std::string& name) {
  if (!obj.contains(name)) throw BadRequest("field '" + name + "' is missing");
  if (!obj[name].is_string()) throw BadRequest("field '" + name + "' must be a string");
  return obj[name].get<std::string>();
}

std::optional<std::string> optional_string_field(const nlohmann::json& obj, const std::string& name) {
  if (!obj.contains(name) || obj[name].is_null()) return std::nullopt;
  return string_field(obj, name);
}

std::optional<int64_t> optional_int_field(const nlohmann::json& obj, const std::string& name, int64_t min,
                                          int64_t max) {
  if (!obj.contains(name) || obj[name].is_null()) return std::nullopt;
  const auto& v = obj[name];
  if (!v.is_number_integer()) throw BadRequest("field '" + name + "' must be an integer");
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  if (x < min || x > max)
    throw BadRequest("field '" + name + "' must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return x;
}

int64_t int_field(const nlohmann::json& obj, const std::string& name, int64_t min, int64_t max) {
  auto v = optional_int_field(obj, name, min, max);
  if (!v) throw BadRequest("field '" + name + "' is missing");
  return *v;
}

bool bool_field(const nlohmann::json& obj, const std::string& name) {
  if (!obj.contains(name)) throw BadRequest("field '" + name + "' is missing");
  if (!obj[name].is_boolean()) throw BadRequest("field '" + name + "' must be true or false");
  return obj[name].get<bool>();
}

void only_fields(const nlohmann::json& obj, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (const char* a : allowed) ok |= key == a;
    if (!ok) throw BadRequest(what + ": unknown field '" + key + "'");
  }
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
