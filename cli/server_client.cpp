#include "cli/server_client.h"

#include <cctype>

#include "protocol/token_file.h"
#include "common/files.h"
#include "common/error.h"

namespace trellis {

namespace fs = std::filesystem;

void add_server_options(CLI::App& cmd, CliContext& ctx) {
  cmd.add_option("--server", ctx.server,
                 "Coordinator URL, http://HOST:PORT (env TRELLIS_SERVER, or \"server\" in the client config file)");
  cmd.add_option("--token-file", ctx.token_file,
                 "File holding the bearer token (env TRELLIS_TOKEN_FILE, or \"token_file\" in the client config file)");
}

namespace {

fs::path expand_home(const Environment& env, const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    if (auto home = env.get("HOME")) return fs::path(*home) / p.substr(p.size() > 1 ? 2 : 1);
  }
  return fs::path(p);
}

}  // namespace

fs::path client_config_path(const Environment& env) {
  if (auto path = env.get("TRELLIS_CONFIG")) return expand_home(env, *path);
  if (auto xdg = env.get("XDG_CONFIG_HOME")) return fs::path(*xdg) / "trellis" / "client.json";
  if (auto home = env.get("HOME")) return fs::path(*home) / ".config" / "trellis" / "client.json";
  return {};
}

void apply_client_config(CliContext& ctx) {
  if (!ctx.server.empty() && !ctx.token_file.empty()) return;
  const fs::path path = client_config_path(ctx.env);
  if (path.empty()) return;
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (ctx.env.get("TRELLIS_CONFIG")) throw Error(path.string() + " (TRELLIS_CONFIG): no such file");
    return;
  }
  const nlohmann::json config = read_json_file(path);
  if (!config.is_object()) throw Error(path.string() + ": expected a JSON object {\"server\", \"token_file\"}");
  for (const auto& [key, value] : config.items()) {
    if (key != "server" && key != "token_file")
      throw Error(path.string() + ": unknown field '" + key + "' (expected \"server\" and \"token_file\")");
    if (!value.is_string()) throw Error(path.string() + ": field '" + key + "' must be a string");
  }
  if (ctx.server.empty() && config.contains("server")) ctx.server = config["server"].get<std::string>();
  if (ctx.token_file.empty() && config.contains("token_file")) {
    fs::path token_file = expand_home(ctx.env, config["token_file"].get<std::string>());
    if (token_file.is_relative()) token_file = fs::absolute(path).parent_path() / token_file;
    ctx.token_file = token_file;
  }
}

namespace {

// apply_client_config, then the server URL and the token (empty without a token file).
std::pair<std::string, std::string> server_and_token(CliContext& ctx) {
  apply_client_config(ctx);
  if (ctx.server.empty())
    throw Error(
        "no coordinator: give --server URL, set TRELLIS_SERVER, or write {\"server\": \"http://HOST:PORT\"} in " +
        (client_config_path(ctx.env).empty() ? std::string("~/.config/trellis/client.json")
                                             : client_config_path(ctx.env).string()));
  return {ctx.server, ctx.token_file.empty() ? std::string() : http::read_token_file(ctx.token_file)};
}

}  // namespace

http::HttpClient make_server_client(CliContext& ctx, std::chrono::seconds timeout) {
  auto [server, token] = server_and_token(ctx);
  return http::HttpClient({.server = server, .token = token, .timeout = timeout});
}

protocol::CoordinatorClient make_coordinator_client(CliContext& ctx, std::chrono::seconds timeout) {
  auto [server, token] = server_and_token(ctx);
  protocol::CoordinatorClientOptions options;
  options.server = server;
  options.token = token;
  options.timeout = timeout;
  return protocol::CoordinatorClient(std::move(options));
}

void throw_http_error(const std::string& what, const http::ClientReply& reply) {
  std::string message = http::HttpClient::error_message(reply);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) message.pop_back();
  if (message.empty()) message = "(no message)";
  throw Error(what + ": " + std::to_string(reply.status) + ": " + message);
}

nlohmann::json expect_json(const http::ClientReply& reply, const std::string& what,
                           std::initializer_list<unsigned> ok) {
  bool good = false;
  for (unsigned s : ok) good = good || reply.status == s;
  if (!good) throw_http_error(what, reply);
  nlohmann::json json = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    throw Error(what + ": the server's reply is not a JSON object (is --server a Trellis coordinator?)");
  return json;
}

std::string url_encode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace trellis
