#include "trainer/artifact/manifest.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "common/files.h"
#include "common/error.h"

namespace trellis {

std::string utc_now_iso8601() { return utc_iso8601(std::chrono::system_clock::now()); }

std::string utc_iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t now = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json ArtifactManifest::to_json() const {
  nlohmann::json j;
  j["format_version"] = format_version;
  j["task"] = task;
  j["backbone"] = {{"name", backbone_name}, {"sha256", backbone_sha256}};
  j["method"] = to_string(spec.method);
  j["adapter"] = {{"bottleneck", spec.adapter.bottleneck},
                  {"nonlinearity", to_string(spec.adapter.nonlinearity)},
                  {"init_std", spec.adapter.init_std}};
  j["task_type"] = to_string(spec.data.task_type);
  j["labels"] = labels;
  j["metrics"] = metrics;
  j["best_step"] = best_step;
  j["params"] = {{"trained", params_trained}, {"backbone", params_backbone}};
  j["data"] = {{"train_sha256", train_sha256},
               {"validation_sha256", validation_sha256 ? nlohmann::json(*validation_sha256) : nlohmann::json()}};
  j["files"] = {{"adapter.safetensors", {{"sha256", adapter_sha256}}}};
  j["created"] = created;
  j["trellis_version"] = trellis_version;
  if (job_id) j["job_id"] = *job_id;
  if (attempt) j["attempt"] = *attempt;
  if (version) j["version"] = *version;
  if (published) j["published"] = *published;
  j["spec"] = trellis::to_json(spec);
  return j;
}

namespace {

const nlohmann::json& field(const nlohmann::json& j, const std::string& name, const std::string& origin,
                            nlohmann::json::value_t type) {
  if (!j.is_object() || !j.contains(name)) throw Error(origin + ": field '" + name + "' is missing");
  const auto& v = j.at(name);
  const bool ok = (type == nlohmann::json::value_t::number_integer) ? v.is_number_integer()
                  : (type == nlohmann::json::value_t::number_float) ? v.is_number()
                                                                    : v.type() == type;
  if (!ok) throw Error(origin + ": field '" + name + "' has the wrong type");
  return v;
}

std::string sha_field(const nlohmann::json& j, const std::string& name, const std::string& origin) {
  std::string s = field(j, name, origin, nlohmann::json::value_t::string).get<std::string>();
  if (s.size() != 64 || s.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw Error(origin + ": field '" + name + "' is not a sha256 hex digest");
  return s;
}

bool present(const nlohmann::json& j, const std::string& name) { return j.contains(name) && !j[name].is_null(); }

// An optional integer field >= 1.
std::optional<int64_t> positive_field(const nlohmann::json& j, const std::string& name, const std::string& origin) {
  if (!present(j, name)) return std::nullopt;
  const int64_t v = field(j, name, origin, nlohmann::json::value_t::number_integer).get<int64_t>();
  if (v < 1) throw Error(origin + ": field '" + name + "' must be >= 1");
  return v;
}

}  // namespace

ArtifactManifest ArtifactManifest::from_json(const nlohmann::json& j, const std::string& origin) {
  using vt = nlohmann::json::value_t;
  if (!j.is_object()) throw Error(origin + ": expected a JSON object");
  ArtifactManifest m;
  m.format_version = field(j, "format_version", origin, vt::number_integer).get<int>();
  if (m.format_version != kFormatVersion)
    throw Error(origin + ": format_version " + std::to_string(m.format_version) + " is not supported (expected " +
                std::to_string(kFormatVersion) + ")");
  m.task = field(j, "task", origin, vt::string).get<std::string>();
  const auto& bb = field(j, "backbone", origin, vt::object);
  m.backbone_name = field(bb, "name", origin + " backbone", vt::string).get<std::string>();
  m.backbone_sha256 = field(bb, "sha256", origin + " backbone", vt::string).get<std::string>();
  m.spec = parse_job_spec(field(j, "spec", origin, vt::object), origin + " spec");
  for (const auto& l : field(j, "labels", origin, vt::array)) {
    if (!l.is_string()) throw Error(origin + ": field 'labels' must hold strings");
    m.labels.push_back(l.get<std::string>());
  }
  for (size_t i = 0; i < m.labels.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (m.labels[i] == m.labels[k]) throw Error(origin + ": label '" + m.labels[i] + "' appears twice in 'labels'");
  if (m.spec.data.task_type == TaskType::classification && m.labels.size() < 2)
    throw Error(origin + ": a classification artifact needs at least two labels");
  for (const auto& [k, v] : field(j, "metrics", origin, vt::object).items()) {
    if (!v.is_number()) throw Error(origin + ": metric '" + k + "' is not a number");
    m.metrics[k] = v.get<double>();
  }
  m.best_step = field(j, "best_step", origin, vt::number_integer).get<int64_t>();
  const auto& p = field(j, "params", origin, vt::object);
  m.params_trained = field(p, "trained", origin + " params", vt::number_integer).get<int64_t>();
  m.params_backbone = field(p, "backbone", origin + " params", vt::number_integer).get<int64_t>();
  const auto& d = field(j, "data", origin, vt::object);
  m.train_sha256 = sha_field(d, "train_sha256", origin + " data");
  if (d.contains("validation_sha256") && !d["validation_sha256"].is_null())
    m.validation_sha256 = sha_field(d, "validation_sha256", origin + " data");
  const auto& files = field(j, "files", origin, vt::object);
  m.adapter_sha256 = sha_field(field(files, "adapter.safetensors", origin + " files", vt::object), "sha256",
                               origin + " files.adapter.safetensors");
  m.created = field(j, "created", origin, vt::string).get<std::string>();
  if (j.contains("trellis_version") && j["trellis_version"].is_string())
    m.trellis_version = j["trellis_version"].get<std::string>();
  if (present(j, "job_id")) {
    m.job_id = field(j, "job_id", origin, vt::string).get<std::string>();
    const bool printable = std::all_of(m.job_id->begin(), m.job_id->end(), [](char c) { return c > ' ' && c < 127; });
    if (m.job_id->empty() || m.job_id->size() > 128 || !printable)
      throw Error(origin + ": field 'job_id' must be 1 to 128 printable ASCII characters without spaces");
  }
  m.attempt = positive_field(j, "attempt", origin);
  m.version = positive_field(j, "version", origin);
  if (present(j, "published")) m.published = field(j, "published", origin, vt::string).get<std::string>();
  if (m.task != m.spec.task) throw Error(origin + ": 'task' differs from 'spec.task'");
  return m;
}

ArtifactManifest read_manifest(const std::filesystem::path& dir) {
  const auto path = dir / kManifestFile;
  if (!std::filesystem::exists(path))
    throw Error(path.string() + ": not found (is '" + dir.string() + "' an artifact?)");
  return ArtifactManifest::from_json(read_json_file(path), path.string());
}

}  // namespace trellis
