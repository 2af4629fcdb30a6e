// trellis adapters [TASK] | publish DIR [--alias A] | alias TASK ALIAS VERSION: the adapter
// registry on its filesystem root (--registry or TRELLIS_REGISTRY). No LibTorch.
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "registry/artifact_registry.h"
#include "common/error.h"

namespace trellis {
namespace {

ArtifactRegistry open_registry(const CliContext& ctx, bool create = false) {
  if (ctx.registry.empty()) throw Error("no adapter registry: give --registry ROOT or set TRELLIS_REGISTRY");
  return ArtifactRegistry(RegistryOptions{.root = ctx.registry, .create = create});
}

std::string metrics_text(const std::map<std::string, double>& metrics) {
  std::string out;
  char buf[64];
  for (const auto& [k, v] : metrics) {
    std::snprintf(buf, sizeof buf, "%s%s=%.4f", out.empty() ? "" : " ", k.c_str(), v);
    out += buf;
  }
  return out;
}

}  // namespace

CommandAction add_adapters_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string task;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("adapters", "List the registry's tasks, or one task's versions and aliases");
  cmd->add_option("task", args->task, "A task: list its versions");
  cmd->add_flag("--json", args->json, "One JSON document instead of a table");
  return [args, &ctx]() {
    ArtifactRegistry registry = open_registry(ctx);
    if (args->task.empty()) {
      nlohmann::json out = nlohmann::json::array();
      for (const TaskSummary& t : registry.list_tasks()) {
        out.push_back({{"task", t.task}, {"versions", t.versions}, {"metrics", t.metrics}});
        if (t.latest) out.back()["latest"] = *t.latest;
        else out.back()["latest"] = nullptr;
        if (!args->json)
          std::printf("%-32s latest %-6s %s\n", t.task.c_str(), t.latest ? std::to_string(*t.latest).c_str() : "-",
                      metrics_text(t.metrics).c_str());
      }
      if (args->json) std::cout << out.dump() << std::endl;
      return 0;
    }
    const auto versions = registry.list_versions(args->task);
    const auto aliases = registry.aliases(args->task);
    nlohmann::json out = {{"task", args->task}, {"aliases", aliases}, {"versions", nlohmann::json::array()}};
    for (const VersionInfo& v : versions) {
      nlohmann::json j = {
          {"version", v.version}, {"state", to_string(v.state)}, {"metrics", v.metrics}, {"created", v.created}};
      if (v.published) j["published"] = *v.published;
      if (v.job_id) j["job_id"] = *v.job_id;
      if (v.attempt) j["attempt"] = *v.attempt;
      if (!v.problem.empty()) j["problem"] = v.problem;
      if (v.deleted) j["deleted"] = *v.deleted;
      out["versions"].push_back(j);
      if (!args->json) {
        std::string names;
        for (const auto& [alias, n] : aliases)
          if (n == v.version) names += (names.empty() ? " [" : ", ") + alias;
        if (!names.empty()) names += "]";
        std::printf("%s@%lld %-8s %s%s%s\n", args->task.c_str(), (long long)v.version, to_string(v.state).c_str(),
                    metrics_text(v.metrics).c_str(), names.c_str(),
                    v.problem.empty() ? "" : ("  problem: " + v.problem).c_str());
      }
    }
    if (args->json) std::cout << out.dump() << std::endl;
    return 0;
  };
}

CommandAction add_publish_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string dir;
    std::string alias;
    bool create = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("publish", "Publish an artifact directory as the next version of its task");
  cmd->add_option("dir", args->dir, "Artifact directory (as `trellis train` writes it)")->required();
  cmd->add_option("--alias", args->alias, "Then point this alias (e.g. staging) at the new version");
  cmd->add_flag("--create-registry", args->create, "Create the registry root (and its marker) if missing");
  return [args, &ctx]() {
    ArtifactRegistry registry = open_registry(ctx, args->create);
    const ArtifactManifest manifest = read_manifest(args->dir);
    const ResolvedVersion v = registry.publish(manifest.task, args->dir);
    if (!args->alias.empty()) registry.set_alias(v.task, args->alias, v.version);
    nlohmann::json out = {{"task", v.task},
                          {"version", v.version},
                          {"ref", v.task + "@" + std::to_string(v.version)},
                          {"dir", v.dir.string()}};
    if (!args->alias.empty()) out["alias"] = args->alias;
    std::cout << out.dump() << std::endl;
    return 0;
  };
}

CommandAction add_alias_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string task, alias;
    int64_t version = 0;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("alias", "Point an alias of a task (prod, staging, ...) at a version, atomically");
  cmd->add_option("task", args->task, "Task")->required();
  cmd->add_option("alias", args->alias, "Alias name ([a-z0-9][a-z0-9._-]*, not 'latest')")->required();
  cmd->add_option("version", args->version, "Version number")->required();
  return [args, &ctx]() {
    ArtifactRegistry registry = open_registry(ctx);
    registry.set_alias(args->task, args->alias, args->version);
    std::cout << nlohmann::json{{"task", args->task}, {"alias", args->alias}, {"version", args->version}}.dump()
              << std::endl;
    return 0;
  };
}

}  // namespace trellis
