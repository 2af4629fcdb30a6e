#pragma once
// Talking to the coordinator from the `trellis` command (fetch and the job commands). No LibTorch.
//
// Where the server and the token come from, first match wins, field by field:
//   1. the subcommand's --server / --token-file flags,
//   2. TRELLIS_SERVER / TRELLIS_TOKEN_FILE (read in main before parsing, so flags override them),
//   3. the client config file: $TRELLIS_CONFIG, else $XDG_CONFIG_HOME/trellis/client.json, else
//      ~/.config/trellis/client.json: {"server": "http://HOST:PORT", "token_file": "PATH"}
//      (a relative token_file is relative to the config file's directory; "~/" is expanded).
// The token itself is never printed: error messages name the token file, never its contents.
#include <filesystem>
#include <map>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_context.h"
#include "protocol/coordinator_client.h"
#include "protocol/http_client.h"

namespace trellis {

// Adds --server and --token-file to a subcommand (bound to ctx.server / ctx.token_file).
void add_server_options(CLI::App& cmd, CliContext& ctx);

// The client config file's path in `env` (it may not exist).
std::filesystem::path client_config_path(const Environment& env);

// Fills ctx.server and ctx.token_file from the config file where they are still empty. A missing
// default config file is fine; a missing $TRELLIS_CONFIG or a malformed file is an error.
void apply_client_config(CliContext& ctx);

// apply_client_config, then a client for ctx.server with the token from ctx.token_file (if any).
// Throws trellis::Error naming every way to set the server when there is none.
http::HttpClient make_server_client(CliContext& ctx, std::chrono::seconds timeout = std::chrono::seconds(60));

// The same settings, for the typed coordinator client (the job commands).
protocol::CoordinatorClient make_coordinator_client(CliContext& ctx,
                                                    std::chrono::seconds timeout = std::chrono::seconds(60));

// Throws trellis::Error "WHAT: STATUS: <the server's error message>" (e.g. "POST /v1/jobs: 400: ...").
[[noreturn]] void throw_http_error(const std::string& what, const http::ClientReply& reply);

// The reply's JSON body when its status is one of `ok` (else throw_http_error); a body that is not
// JSON is an error naming `what`.
nlohmann::json expect_json(const http::ClientReply& reply, const std::string& what,
                           std::initializer_list<unsigned> ok = {200});

// Percent-encodes a query parameter value or path segment (unreserved characters kept).
std::string url_encode(const std::string& text);

}  // namespace trellis
