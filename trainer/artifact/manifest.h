#pragma once
// manifest.json of an adapter artifact: what was trained, on what, from what data, how well.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/spec/job_spec.h"

namespace trellis {

struct ArtifactManifest {
  static constexpr int kFormatVersion = 1;
  int format_version = kFormatVersion;
  std::string task;
  std::string backbone_name;
  std::string backbone_sha256;           // of the backbone's weights file
  JobSpec spec;                          // the full spec, defaults spelled out (method, adapter, data fields)
  std::vector<std::string> labels;       // classification label names by index; empty for regression
  std::map<std::string, double> metrics; // validation metrics of the kept checkpoint
  int64_t best_step = 0;
  int64_t params_trained = 0;
  int64_t params_backbone = 0;
  std::string train_sha256;
  std::optional<std::string> validation_sha256;  // absent when validation was held out of train
  std::string adapter_sha256;            // of adapter.safetensors
  std::string created;                   // UTC, ISO 8601
  std::string trellis_version;

  nlohmann::json to_json() const;
  // Validates every field; errors name `origin` and the field.
  static ArtifactManifest from_json(const nlohmann::json& json, const std::string& origin);
};

std::string utc_now_iso8601();

}  // namespace trellis
