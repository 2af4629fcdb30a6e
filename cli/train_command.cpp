// trellis train JOB.json --out DIR
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "trainer/train/runtime.h"
#include "trainer/model/backbone.h"
#include "trainer/spec/job_spec.h"
#include "trainer/train/job_runner.h"
#include "trainer/train/progress_log.h"

namespace trellis {

CommandAction add_train_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string spec;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("train", "Train a task's adapters from a job spec and write the artifact");
  cmd->add_option("spec", args->spec, "Job spec (JSON); data paths are relative to it")->required();
  cmd->add_option("--out", args->out, "Artifact directory to create (must not exist)")->required();
  return [args, &ctx]() {
    return with_torch_errors([&] {
      set_compute_threads(ctx.threads);
      JobSpec spec = load_job_spec(args->spec);
      resolve_data_paths(spec, std::filesystem::absolute(args->spec).parent_path());
      auto backbone = load_backbone(ctx.config_dir, spec.backbone);
      JobRunOptions options;
      if (!ctx.quiet) log_progress_to_stderr(options.callbacks);
      LocalCommunicator comm;
      JobRunResult r = run_training_job(spec, backbone, comm, args->out, options);
      nlohmann::json out = {
          {"artifact", std::filesystem::absolute(args->out).string()},
          {"task", r.manifest.task},
          {"method", to_string(spec.method)},
          {"metrics", r.manifest.metrics},
          {"best_step", r.manifest.best_step},
          {"steps", r.train.steps},
          {"params", {{"trained", r.manifest.params_trained}, {"backbone", r.manifest.params_backbone}}},
          {"train_examples", r.train_examples},
          {"validation_examples", r.validation_examples},
          {"train_seconds", r.train.train_seconds},
          {"samples_per_s", r.train.samples_per_s}};
      std::cout << out.dump() << std::endl;
      return 0;
    });
  };
}

}  // namespace trellis
