#include "coordinator/http/auth.h"

#include <nlohmann/json.hpp>

#include "coordinator/http/json_response.h"
#include "common/files.h"
#include "common/error.h"

namespace trellis::http {

std::string to_string(Role role) {
  switch (role) {
    case Role::user: return "user";
    case Role::worker: return "worker";
    case Role::admin: return "admin";
  }
  return "?";
}

std::optional<Role> parse_role(const std::string& text) {
  if (text == "user") return Role::user;
  if (text == "worker") return Role::worker;
  if (text == "admin") return Role::admin;
  return std::nullopt;
}

TokenStore TokenStore::from_file(const std::filesystem::path& path) {
  return from_json(read_json_file(path), path.string());
}

TokenStore TokenStore::from_json(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object() || !json.contains("tokens") || !json["tokens"].is_array())
    throw Error(ErrorCode::invalid, origin + ": expected {\"tokens\": [{\"token\": ..., \"role\": ...}, ...]}");
  TokenStore store;
  size_t i = 0;
  for (const auto& entry : json["tokens"]) {
    const std::string where = origin + ": tokens[" + std::to_string(i++) + "]";
    if (!entry.is_object() || !entry.contains("token") || !entry["token"].is_string() || !entry.contains("role") ||
        !entry["role"].is_string())
      throw Error(ErrorCode::invalid, where + ": needs a string \"token\" and a string \"role\"");
    for (const auto& [key, _] : entry.items())
      if (key != "token" && key != "role") throw Error(ErrorCode::invalid, where + ": unknown field '" + key + "'");
    const std::string token = entry["token"].get<std::string>();
    if (token.size() < 16) throw Error(ErrorCode::invalid, where + ".token: shorter than 16 characters");
    for (char c : token)
      if (c <= ' ' || c > '~') throw Error(ErrorCode::invalid, where + ".token: only printable ASCII without spaces");
    const auto role = parse_role(entry["role"].get<std::string>());
    if (!role) throw Error(ErrorCode::invalid, where + ".role: expected user, worker or admin");
    if (store.role_of(token)) throw Error(ErrorCode::invalid, where + ": the same token appears twice");
    store.add(token, *role);
  }
  return store;
}

void TokenStore::add(std::string token, Role role) { tokens_.emplace_back(std::move(token), role); }

namespace {
bool equal_constant_time(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}
}  // namespace

std::optional<Role> TokenStore::role_of(const std::string& token) const {
  std::optional<Role> found;
  for (const auto& [t, role] : tokens_)
    if (equal_constant_time(t, token)) found = role;
  return found;
}

std::optional<StringResponse> TokenStore::check(const Request& req, const std::set<Role>& allowed) const {
  const auto it = req.find(beast_http::field::authorization);
  if (it == req.end()) {
    auto res = error_response(req, beast_http::status::unauthorized, "unauthorized",
                              "missing bearer token (Authorization: Bearer <token>)");
    res.set(beast_http::field::www_authenticate, "Bearer");
    return res;
  }
  const std::string value(it->value());
  constexpr std::string_view kScheme = "Bearer ";
  std::optional<Role> role;
  if (value.size() > kScheme.size() && value.compare(0, kScheme.size(), kScheme) == 0)
    role = role_of(value.substr(kScheme.size()));
  if (!role) {
    auto res = error_response(req, beast_http::status::unauthorized, "unauthorized", "invalid bearer token");
    res.set(beast_http::field::www_authenticate, "Bearer error=\"invalid_token\"");
    return res;
  }
  if (!allowed.count(*role)) {
    std::string names;
    for (Role r : allowed) names += (names.empty() ? "" : ", ") + to_string(r);
    return error_response(req, beast_http::status::forbidden, "forbidden",
                          "role " + to_string(*role) + " may not do this (allowed: " + names + ")");
  }
  return std::nullopt;
}

}  // namespace trellis::http
