// Adapter artifacts on the real backbone: size of adapter.safetensors over the backbone's weights
// file for bottlenecks m (default 8, 64, 256) next to the formula (12 adapters x (2md + d + m),
// 13 LayerNorms x 2d, head (d + 1) x labels), and the time to switch adapters on a resident
// backbone (load_artifact: read, sha256, parse, check shapes) versus loading backbone + adapter
// cold. Medians over --repeats. Prints a table and writes JSON.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "trainer/artifact/artifact.h"
#include "trainer/model/backbone.h"
#include "trainer/model/task_params.h"
#include "trainer/spec/backbone_descriptor.h"
#include "trainer/train/runtime.h"

using namespace trellis;
namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Adapter artifact size and switch time on the real backbone"};
  std::string descriptor_path, json_out, work = (fs::temp_directory_path() / "trellis-adapter-bench").string();
  std::vector<int64_t> bottlenecks{8, 64, 256};
  int repeats = 5, labels = 2;
  app.add_option("--backbone", descriptor_path, "backbone descriptor JSON")->required();
  app.add_option("--bottlenecks", bottlenecks);
  app.add_option("--repeats", repeats);
  app.add_option("--labels", labels);
  app.add_option("--work-dir", work);
  app.add_option("--json-out", json_out);
  CLI11_PARSE(app, argc, argv);
  set_compute_threads(1);
  try {
    return with_torch_errors([&] {
      const BackboneDescriptor desc = load_backbone_descriptor(descriptor_path);
      auto backbone = Backbone::load(desc);
      const auto backbone_bytes = static_cast<double>(fs::file_size(desc.weights));
      const int64_t d = backbone->config().hidden_size, layers = backbone->config().num_hidden_layers;
      fs::remove_all(work);
      nlohmann::json report = {
          {"backbone", backbone->name()}, {"backbone_file_bytes", backbone_bytes}, {"rows", nlohmann::json::array()}};
      std::printf("%6s %12s %12s %10s %12s %14s %14s\n", "m", "trained", "formula", "bytes", "size/backbone",
                  "switch ms", "cold ms");
      for (int64_t m : bottlenecks) {
        AdapterSpec adapter;
        adapter.bottleneck = m;
        TaskParams params = TaskParams::create(*backbone, Method::houlsby, adapter, labels, 1);
        ArtifactManifest manifest;
        manifest.task = "bench-m" + std::to_string(m);
        manifest.backbone_name = backbone->name();
        manifest.backbone_sha256 = backbone->weights_sha256();
        manifest.spec.task = manifest.task;
        manifest.spec.backbone = backbone->name();
        manifest.spec.adapter = adapter;
        manifest.spec.data.train = "synthetic.jsonl";
        manifest.labels = {"0", "1"};
        manifest.params_backbone = backbone->num_parameters();
        manifest.train_sha256 = std::string(64, '0');
        manifest.created = utc_now_iso8601();
        const fs::path dir = fs::path(work) / manifest.task;
        write_artifact(dir, manifest, params);
        const int64_t formula = 2 * layers * adapter_parameter_count(d, m) + (2 * layers + 1) * 2 * d +
                                (d + 1) * labels;
        const auto bytes = static_cast<double>(fs::file_size(dir / "adapter.safetensors"));
        std::vector<double> warm, cold;
        for (int r = 0; r < repeats; ++r) {
          warm.push_back(seconds([&] { LoadedArtifact a = load_artifact(dir, *backbone); }));
          cold.push_back(seconds([&] {
            auto fresh = Backbone::load(desc);
            LoadedArtifact a = load_artifact(dir, *fresh);
          }));
        }
        const double warm_ms = 1000 * median(warm), cold_ms = 1000 * median(cold);
        std::printf("%6lld %12lld %12lld %10.0f %11.2f%% %14.2f %14.1f\n", (long long)m,
                    (long long)params.num_parameters(), (long long)formula, bytes, 100 * bytes / backbone_bytes,
                    warm_ms, cold_ms);
        report["rows"].push_back({{"bottleneck", m},
                                  {"trained_params", params.num_parameters()},
                                  {"formula_params", formula},
                                  {"artifact_bytes", bytes},
                                  {"size_over_backbone", bytes / backbone_bytes},
                                  {"switch_ms_median", warm_ms},
                                  {"cold_ms_median", cold_ms},
                                  {"cold_over_switch", cold_ms / warm_ms}});
      }
      fs::remove_all(work);
      std::cout << report.dump() << std::endl;
      if (!json_out.empty()) {
        fs::create_directories(fs::path(json_out).parent_path());
        std::ofstream(json_out) << report.dump(2) << "\n";
      }
      return 0;
    });
  } catch (const std::exception& e) {
    std::cerr << "trellis_bench_adapters: error: " << e.what() << "\n";
    return 1;
  }
}
