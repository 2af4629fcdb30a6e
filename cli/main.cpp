// trellis: train, evaluate and use task adapters on a frozen pretrained backbone.
#include <cstdlib>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "common/environment.h"
#include "common/error.h"

int main(int argc, char** argv) {
  CLI::App app{"trellis: parameter-efficient adapters (Houlsby et al. 2019) on a frozen pretrained backbone"};
  app.require_subcommand(1);
  app.set_version_flag("--version", TRELLIS_VERSION);
  trellis::CliContext ctx;
  ctx.env = trellis::Environment::of_process();
  const trellis::Environment& env = ctx.env;
  ctx.config_dir = env.get("TRELLIS_CONFIG_DIR").value_or(TRELLIS_DEFAULT_CONFIG_DIR);
  app.add_option("--config-dir", ctx.config_dir, "Directory holding backbones/<name>.json (env TRELLIS_CONFIG_DIR)");
  ctx.registry = env.get("TRELLIS_REGISTRY").value_or("");
  app.add_option("--registry", ctx.registry, "Adapter registry root (env TRELLIS_REGISTRY)");
  // Flags beat these; the client config file fills what is still empty (cli/server_client.h).
  ctx.server = env.get("TRELLIS_SERVER").value_or("");
  ctx.token_file = env.get("TRELLIS_TOKEN_FILE").value_or("");
  if (auto dir = env.get("TRELLIS_CACHE_DIR")) ctx.cache_dir = *dir;
  else if (auto xdg = env.get("XDG_CACHE_HOME")) ctx.cache_dir = std::filesystem::path(*xdg) / "trellis" / "adapters";
  else if (auto home = env.get("HOME"))
    ctx.cache_dir = std::filesystem::path(*home) / ".cache" / "trellis" / "adapters";
  else ctx.cache_dir = std::filesystem::temp_directory_path() / "trellis-cache" / "adapters";
  app.add_option("--threads", ctx.threads, "Intra-op threads (default: all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("-q,--quiet", ctx.quiet, "No progress output on stderr");
  app.footer(
      "Exit codes: 0 ok, 1 error, 2 usage; submit --follow and events -f: 3 the job failed, 4 it was cancelled.\n"
      "Server commands (fetch, submit, jobs, status, events, cancel) take --server / --token-file, else\n"
      "TRELLIS_SERVER / TRELLIS_TOKEN_FILE, else {\"server\", \"token_file\"} from $TRELLIS_CONFIG or\n"
      "~/.config/trellis/client.json.");

  std::map<CLI::App*, trellis::CommandAction> actions;
  for (auto add : {&trellis::add_train_command, &trellis::add_eval_command, &trellis::add_predict_command,
                   &trellis::add_adapters_command, &trellis::add_publish_command, &trellis::add_alias_command,
                   &trellis::add_fetch_command, &trellis::add_submit_command, &trellis::add_jobs_command,
                   &trellis::add_status_command, &trellis::add_events_command, &trellis::add_cancel_command}) {
    const size_t before = app.get_subcommands({}).size();
    trellis::CommandAction action = add(app, ctx);
    actions[app.get_subcommands({})[before]] = std::move(action);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help or the usage error
    return rc == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, action] : actions)
      if (sub->parsed()) return action();
  } catch (const trellis::Error& e) {
    std::cerr << "trellis: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "trellis: error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
