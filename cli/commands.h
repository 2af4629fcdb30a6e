#pragma once
// The trellis subcommands. Each registers its options on the parent app and returns the action
// to run when the subcommand was chosen; actions return the process exit code and throw
// trellis::Error for bad input.
#include <functional>

#include <CLI/CLI.hpp>

#include "cli/cli_context.h"

namespace trellis {

using CommandAction = std::function<int()>;

CommandAction add_train_command(CLI::App& app, CliContext& ctx);
CommandAction add_eval_command(CLI::App& app, CliContext& ctx);
CommandAction add_predict_command(CLI::App& app, CliContext& ctx);
CommandAction add_adapters_command(CLI::App& app, CliContext& ctx);
CommandAction add_publish_command(CLI::App& app, CliContext& ctx);
CommandAction add_alias_command(CLI::App& app, CliContext& ctx);
CommandAction add_fetch_command(CLI::App& app, CliContext& ctx);
// The coordinator's job API (cli/job_commands.cpp).
CommandAction add_submit_command(CLI::App& app, CliContext& ctx);
CommandAction add_jobs_command(CLI::App& app, CliContext& ctx);
CommandAction add_status_command(CLI::App& app, CliContext& ctx);
CommandAction add_events_command(CLI::App& app, CliContext& ctx);
CommandAction add_cancel_command(CLI::App& app, CliContext& ctx);

}  // namespace trellis
