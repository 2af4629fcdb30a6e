// trellis predict --adapter DIR [--data FILE]
#include <fstream>
#include <map>
#include <iostream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "cli/adapter_source.h"
#include "cli/commands.h"
#include "trainer/train/runtime.h"
#include "cli/prediction_input.h"
#include "trainer/artifact/artifact.h"
#include "trainer/model/backbone.h"
#include "trainer/train/inference.h"
#include "common/error.h"

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

// One adapter's answer for one input: {"label": ..., "scores": {...}}.
nlohmann::json answer(const LoadedArtifact& artifact, const float* row, int64_t k) {
  const auto& labels = artifact.manifest.labels;
  nlohmann::json line;
  if (artifact.manifest.spec.data.task_type == TaskType::regression) {
    line["label"] = row[0];
    line["scores"] = nlohmann::json::object();
    return line;
  }
  int64_t best = 0;
  nlohmann::json scores = nlohmann::json::object();
  for (int64_t c = 0; c < k; ++c) {
    scores[labels[c]] = row[c];
    if (row[c] > row[best]) best = c;
  }
  line["label"] = all_integers(labels) ? nlohmann::json(std::stoll(labels[best])) : nlohmann::json(labels[best]);
  line["scores"] = scores;
  return line;
}

}  // namespace

CommandAction add_predict_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::vector<std::string> adapters;
    std::string data;
    std::string format = "auto";
    size_t batch_size = 64;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("predict", "Predict with one or more adapters; one JSON line per input line");
  cmd->add_option("--adapter", args->adapters,
                  "Artifact directory or registry reference (task@3, task@latest, task@prod); repeat for several "
                  "adapters on one backbone load")
      ->required();
  cmd->add_option("--data", args->data, "Input file (JSONL objects or plain text lines); default stdin");
  cmd->add_option("--format", args->format, "auto (JSON objects or plain lines, per line), jsonl or lines")
      ->check(CLI::IsMember({"auto", "jsonl", "lines"}));
  cmd->add_option("--batch-size", args->batch_size, "Examples per inference batch")->check(CLI::PositiveNumber);
  return [args, &ctx]() {
    return with_torch_errors([&] {
      set_compute_threads(ctx.threads);
      const InputFormat format = parse_input_format(args->format);
      // Every adapter must belong to the same backbone: it is loaded once and shared.
      std::vector<AdapterLocation> locations;
      std::vector<ArtifactManifest> manifests;
      for (const auto& a : args->adapters) {
        locations.push_back(locate_adapter(a, ctx));
        manifests.push_back(read_manifest(locations.back().dir));
        const ArtifactManifest& first = manifests.front();
        if (manifests.back().backbone_name != first.backbone_name ||
            manifests.back().backbone_sha256 != first.backbone_sha256)
          throw Error("--adapter " + a + " was trained on backbone '" + manifests.back().backbone_name + "' (sha256 " +
                      manifests.back().backbone_sha256.substr(0, 12) + "), --adapter " + args->adapters.front() +
                      " on '" + first.backbone_name + "' (sha256 " + first.backbone_sha256.substr(0, 12) +
                      "): one predict serves one backbone");
      }
      auto backbone = load_backbone(ctx.config_dir, manifests.front().backbone_name);
      std::vector<LoadedArtifact> artifacts;
      for (const auto& loc : locations) artifacts.push_back(load_artifact(loc.dir, *backbone));
      const FieldNames fields = field_names_of(artifacts.front().manifest.spec.data);
      for (size_t i = 1; i < artifacts.size(); ++i) {
        const FieldNames other = field_names_of(artifacts[i].manifest.spec.data);
        if (other.text != fields.text || other.text_pair != fields.text_pair)
          throw Error("--adapter " + args->adapters[i] + " reads other input fields than --adapter " +
                      args->adapters.front() + "; predict them separately");
      }

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
      PredictionInput input(*in, origin, fields, format);
      while (true) {
        std::vector<RawExample> chunk = input.next_chunk(1024);
        if (chunk.empty()) break;
        // Adapters with the same max_seq_len share one tokenisation of the chunk.
        std::map<int64_t, EncodedDataset> encoded;
        std::vector<at::Tensor> outputs;
        for (const LoadedArtifact& artifact : artifacts) {
          const JobSpec& spec = artifact.manifest.spec;
          auto it = encoded.find(spec.data.max_seq_len);
          if (it == encoded.end())
            it = encoded
                     .emplace(spec.data.max_seq_len, encode_examples(backbone->tokenizer(), chunk, spec.data.task_type,
                                                                     nullptr, spec.data.max_seq_len, origin))
                     .first;
          at::Tensor out = infer_outputs(*backbone, artifact.params, it->second, args->batch_size);
          if (spec.data.task_type != TaskType::regression) out = at::softmax(out, 1);
          outputs.push_back(out.contiguous());
        }
        for (int64_t i = 0; i < static_cast<int64_t>(chunk.size()); ++i) {
          auto row = [&](size_t a) { return outputs[a].data_ptr<float>() + i * outputs[a].size(1); };
          nlohmann::json line;
          if (artifacts.size() == 1) {
            line = answer(artifacts[0], row(0), outputs[0].size(1));
          } else {
            for (size_t a = 0; a < artifacts.size(); ++a)
              line[locations[a].name] = answer(artifacts[a], row(a), outputs[a].size(1));
          }
          std::cout << line.dump() << "\n";
        }
        std::cout.flush();
      }
      if (in->bad()) throw Error(origin + ": read error");
      return 0;
    });
  };
}

}  // namespace trellis
