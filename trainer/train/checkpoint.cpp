#include "trainer/train/checkpoint.h"

#include <charconv>
#include <system_error>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "trainer/io/safetensors.h"
#include "trainer/model/tensor_io.h"
#include "common/error.h"

namespace trellis {
namespace {

constexpr const char* kFormat = "trellis-checkpoint-1";

// Shortest round-trip text of a double (nan and inf included).
std::string exact(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, end);
}

template <class T>
T number(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& origin) {
  auto it = meta.find(key);
  if (it == meta.end()) throw Error(origin + ": checkpoint metadata lacks '" + key + "'");
  T value{};
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size())
    throw Error(origin + ": checkpoint metadata '" + key + "' is not a number: '" + s + "'");
  return value;
}

void put_all(std::map<std::string, at::Tensor>& out, const std::string& prefix,
             const std::map<std::string, at::Tensor>& tensors) {
  for (const auto& [name, t] : tensors) out.emplace(prefix + name, t.detach().to(at::kCPU));
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const TrainingCheckpoint& c) {
  std::map<std::string, at::Tensor> tensors;
  put_all(tensors, "param/", c.params);
  put_all(tensors, "exp_avg/", c.exp_avg);
  put_all(tensors, "exp_avg_sq/", c.exp_avg_sq);
  if (c.best_params) put_all(tensors, "best/", *c.best_params);
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [k, v] : c.best_metrics) metrics[k] = exact(v);
  const std::map<std::string, std::string> meta{{"format", kFormat},
                                                {"step", std::to_string(c.step)},
                                                {"total_steps", std::to_string(c.total_steps)},
                                                {"world_size", std::to_string(c.world_size)},
                                                {"fingerprint", c.fingerprint},
                                                {"has_best", c.best_params ? "1" : "0"},
                                                {"best_metrics", metrics.dump()},
                                                {"best_value", exact(c.best_value)},
                                                {"best_step", std::to_string(c.best_step)},
                                                {"samples", std::to_string(c.samples)},
                                                {"train_seconds", exact(c.train_seconds)}};
  const std::vector<std::byte> bytes = serialize_tensors(tensors, meta);
  std::filesystem::create_directories(path.parent_path());
  const std::filesystem::path tmp = path.string() + ".tmp";
  write_file_durably(tmp, bytes);
  std::filesystem::rename(tmp, path);
  fsync_dir(path.parent_path());
}

TrainingCheckpoint load_checkpoint(const std::filesystem::path& path) {
  return parse_checkpoint(read_binary_file(path), path.string());
}

TrainingCheckpoint parse_checkpoint(std::vector<std::byte> bytes, const std::string& origin) {
  const SafetensorsFile file = SafetensorsFile::parse(std::move(bytes), origin);
  const auto& meta = file.metadata();
  auto format = meta.find("format");
  if (format == meta.end() || format->second != kFormat)
    throw Error(origin + ": not a Trellis checkpoint (metadata 'format' is not '" + kFormat + "')");
  TrainingCheckpoint c;
  c.step = number<int64_t>(meta, "step", origin);
  c.total_steps = number<int64_t>(meta, "total_steps", origin);
  c.world_size = number<int>(meta, "world_size", origin);
  c.fingerprint = meta.count("fingerprint") ? meta.at("fingerprint") : "";
  c.best_value = number<double>(meta, "best_value", origin);
  c.best_step = number<int64_t>(meta, "best_step", origin);
  c.samples = number<int64_t>(meta, "samples", origin);
  c.train_seconds = number<double>(meta, "train_seconds", origin);
  const bool has_best = number<int>(meta, "has_best", origin) != 0;
  try {
    const nlohmann::json metrics = nlohmann::json::parse(meta.at("best_metrics"));
    for (const auto& [k, v] : metrics.items()) {
      const std::string s = v.get<std::string>();
      double d{};
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
      if (ec != std::errc() || end != s.data() + s.size()) throw Error("metric '" + k + "' is not a number");
      c.best_metrics[k] = d;
    }
  } catch (const std::exception& e) {
    throw Error(origin + ": checkpoint metadata 'best_metrics' is malformed: " + e.what());
  }
  if (has_best) c.best_params.emplace();
  for (const std::string& name : file.names()) {
    const auto slash = name.find('/');
    const std::string kind = name.substr(0, slash == std::string::npos ? 0 : slash);
    const std::string rest = slash == std::string::npos ? name : name.substr(slash + 1);
    at::Tensor t = to_tensor(file.get(name));
    if (kind == "param") c.params.emplace(rest, t);
    else if (kind == "exp_avg") c.exp_avg.emplace(rest, t);
    else if (kind == "exp_avg_sq") c.exp_avg_sq.emplace(rest, t);
    else if (kind == "best" && has_best) c.best_params->emplace(rest, t);
    else throw Error(origin + ": unexpected tensor '" + name + "' in a checkpoint");
  }
  if (c.params.empty()) throw Error(origin + ": checkpoint holds no task tensors");
  if (c.step < 0 || c.step > c.total_steps)
    throw Error(origin + ": checkpoint step " + std::to_string(c.step) + " is out of range");
  return c;
}

}  // namespace trellis
