#pragma once
// manifest.json of an adapter artifact: what was trained, on what, from what data, how well, and
// (once published to a registry) its lineage. No LibTorch: part of trellis_trainer_core, so the
// registry and the coordinator read manifests without the ML stack.
//
// JSON with nlohmann (not cereal): cereal's JSON archive writes std::optional as
// {"nullopt": ...}, std::map as [{"key", "value"}] arrays and enums as integers, accepts
// repeated keys and reports type errors as rapidjson assertions; this format keeps plain
// objects, and from_json names the file and field at fault.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/spec/job_spec.h"

namespace trellis {

inline constexpr const char* kAdapterFile = "adapter.safetensors";
inline constexpr const char* kManifestFile = "manifest.json";

struct ArtifactManifest {
  static constexpr int kFormatVersion = 1;
  int format_version = kFormatVersion;
  std::string task;
  std::string backbone_name;
  std::string backbone_sha256;            // of the backbone's weights file
  JobSpec spec;                           // the full spec, defaults spelled out (method, adapter, data fields)
  std::vector<std::string> labels;        // classification label names by index; empty for regression
  std::map<std::string, double> metrics;  // validation metrics of the kept checkpoint
  int64_t best_step = 0;
  int64_t params_trained = 0;
  int64_t params_backbone = 0;
  std::string train_sha256;
  std::optional<std::string> validation_sha256;  // absent when validation was held out of train
  std::string adapter_sha256;                    // of adapter.safetensors
  std::string created;                           // UTC, ISO 8601
  std::string trellis_version;                   // the producing code's version

  // Lineage, all optional (absent in artifacts written before the registry, and outside it).
  // Written only when set; read when present (null reads as absent).
  std::optional<std::string> job_id;     // the coordinator job that produced it; non-empty, <= 128 printable ASCII
  std::optional<int64_t> attempt;        // that job's attempt (1 = first lease); >= 1
  std::optional<int64_t> version;        // the registry version (task@version); >= 1; set by the registry
  std::optional<std::string> published;  // UTC, ISO 8601, when the registry published it; set by the registry

  nlohmann::json to_json() const;
  // Validates every field; errors name `origin` and the field.
  static ArtifactManifest from_json(const nlohmann::json& json, const std::string& origin);
};

// Reads dir/manifest.json (validated). Errors name the file.
ArtifactManifest read_manifest(const std::filesystem::path& dir);

std::string utc_now_iso8601();
std::string utc_iso8601(std::chrono::system_clock::time_point t);  // "YYYY-MM-DDTHH:MM:SSZ"

}  // namespace trellis
