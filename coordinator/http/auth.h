#pragma once
// Bearer-token authentication. Tokens come from the coordinator's config file:
//   {"tokens": [{"token": "...", "role": "user|worker|admin"}]}
// A request names its token in `Authorization: Bearer <token>`. A missing or unknown token is
// 401, a known token whose role is not allowed for the route is 403. Tokens are never logged and
// never appear in error messages. Immutable after construction: thread-safe.
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "coordinator/http/http_types.h"

namespace trellis::http {

enum class Role { user, worker, admin };
std::string to_string(Role role);
std::optional<Role> parse_role(const std::string& text);

class TokenStore {
 public:
  TokenStore() = default;  // no tokens: every authenticated route answers 401
  // Throws trellis::Error naming the file and field (never a token) for a bad config.
  static TokenStore from_file(const std::filesystem::path& path);
  static TokenStore from_json(const nlohmann::json& json, const std::string& origin);
  void add(std::string token, Role role);

  // The role of `token`, compared in constant time per stored token.
  std::optional<Role> role_of(const std::string& token) const;

  // nullopt when `req` carries a token with one of `allowed`; else the 401/403 error response.
  std::optional<StringResponse> check(const Request& req, const std::set<Role>& allowed) const;

 private:
  std::vector<std::pair<std::string, Role>> tokens_;
};

}  // namespace trellis::http
