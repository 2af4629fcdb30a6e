// trellis predict --adapter DIR [--data FILE]
#include <fstream>
#include <iostream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "trainer/train/runtime.h"
#include "cli/prediction_input.h"
#include "trainer/artifact/artifact.h"
#include "trainer/model/backbone.h"
#include "trainer/train/inference.h"
#include "trainer/util/error.h"

namespace trellis {
namespace {

// Labels that were integers in the training data are printed as JSON integers.
bool all_integers(const std::vector<std::string>& labels) {
  for (const auto& l : labels) {
    if (l.empty() || l.size() > 18) return false;
    const size_t start = l[0] == '-' ? 1 : 0;
    if (start == l.size() || l.find_first_not_of("0123456789", start) != std::string::npos) return false;
    if (l.size() - start > 1 && l[start] == '0') return false;
  }
  return true;
}

}  // namespace

CommandAction add_predict_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string adapter;
    std::string data;
    std::string format = "auto";
    size_t batch_size = 64;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict with an adapter artifact; one JSON line per input line");
  cmd->add_option("--adapter", args->adapter, "Artifact directory")->required();
  cmd->add_option("--data", args->data, "Input file (JSONL objects or plain text lines); default stdin");
  cmd->add_option("--format", args->format, "auto (JSON objects or plain lines, per line), jsonl or lines")
      ->check(CLI::IsMember({"auto", "jsonl", "lines"}));
  cmd->add_option("--batch-size", args->batch_size, "Examples per inference batch")->check(CLI::PositiveNumber);
  return [args, &ctx]() { return with_torch_errors([&] {
    set_compute_threads(ctx.threads);
    const InputFormat format = parse_input_format(args->format);
    const ArtifactManifest manifest = read_manifest(args->adapter);
    auto backbone = load_backbone(ctx.config_dir, manifest.backbone_name);
    LoadedArtifact artifact = load_artifact(args->adapter, *backbone);
    const JobSpec& spec = artifact.manifest.spec;
    const auto& labels = artifact.manifest.labels;
    const bool regression = spec.data.task_type == TaskType::regression;
    const bool int_labels = all_integers(labels);

    std::ifstream file;
    std::istream* in = &std::cin;
    std::string origin = "<stdin>";
    if (!args->data.empty()) {
      file.open(args->data);
      if (!std::filesystem::is_regular_file(args->data) || !file)
        throw Error(args->data + ": cannot open for reading (not a readable file)");
      in = &file;
      origin = args->data;
    }
    PredictionInput input(*in, origin, field_names_of(spec.data), format);
    while (true) {
      std::vector<RawExample> chunk = input.next_chunk(1024);
      if (chunk.empty()) break;
      EncodedDataset data =
          encode_examples(backbone->tokenizer(), chunk, spec.data.task_type, nullptr, spec.data.max_seq_len, origin);
      at::Tensor out = infer_outputs(*backbone, artifact.params, data, args->batch_size);
      if (!regression) out = at::softmax(out, 1);
      out = out.contiguous();
      const float* p = out.data_ptr<float>();
      const int64_t k = out.size(1);
      for (int64_t i = 0; i < out.size(0); ++i) {
        nlohmann::json line;
        if (regression) {
          line["label"] = p[i];
          line["scores"] = nlohmann::json::object();
        } else {
          int64_t best = 0;
          nlohmann::json scores = nlohmann::json::object();
          for (int64_t c = 0; c < k; ++c) {
            scores[labels[c]] = p[i * k + c];
            if (p[i * k + c] > p[i * k + best]) best = c;
          }
          line["label"] = int_labels ? nlohmann::json(std::stoll(labels[best])) : nlohmann::json(labels[best]);
          line["scores"] = scores;
        }
        std::cout << line.dump() << "\n";
      }
      std::cout.flush();
    }
    if (in->bad()) throw Error(origin + ": read error");
    return 0;
  }); };
}

}  // namespace trellis
