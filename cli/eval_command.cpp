// trellis eval --adapter DIR --data FILE
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/adapter_source.h"
#include "cli/commands.h"
#include "trainer/train/runtime.h"
#include "trainer/artifact/artifact.h"
#include "trainer/data/dataset.h"
#include "trainer/model/backbone.h"
#include "trainer/train/inference.h"

namespace trellis {

CommandAction add_eval_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string adapter;
    std::string data;
    size_t batch_size = 64;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate an adapter artifact on labelled data; prints metrics as JSON");
  cmd->add_option("--adapter", args->adapter, "Artifact directory or registry reference (task@3, task@prod)")
      ->required();
  cmd->add_option("--data", args->data, "Labelled data (JSONL, CSV or TSV) with the task's fields")->required();
  cmd->add_option("--batch-size", args->batch_size, "Examples per inference batch")->check(CLI::PositiveNumber);
  return [args, &ctx]() {
    return with_torch_errors([&] {
      set_compute_threads(ctx.threads);
      const AdapterLocation location = locate_adapter(args->adapter, ctx);
      const ArtifactManifest manifest = read_manifest(location.dir);
      auto backbone = load_backbone(ctx.config_dir, manifest.backbone_name);
      LoadedArtifact artifact = load_artifact(location.dir, *backbone);
      const JobSpec& spec = artifact.manifest.spec;
      auto examples = read_examples(args->data, field_names_of(spec.data), spec.data.task_type);
      const bool classification = spec.data.task_type == TaskType::classification;
      std::optional<LabelSet> labels;
      if (classification) labels.emplace(artifact.manifest.labels);
      EncodedDataset data = encode_examples(backbone->tokenizer(), examples, spec.data.task_type,
                                            labels ? &*labels : nullptr, spec.data.max_seq_len, args->data);
      auto metrics = evaluate(*backbone, artifact.params, data, labels ? labels->size() : 0, args->batch_size);
      nlohmann::json out = metrics;
      std::cout << out.dump() << std::endl;
      return 0;
    });
  };
}

}  // namespace trellis
