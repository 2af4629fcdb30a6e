#pragma once
// The job spec: the public description of one training job (JSON). The CLI, the worker and
// the coordinator all take the same JSON. Every field but `task` and `data.train` has a default.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace trellis {

enum class Method { houlsby, full, head };
enum class Nonlinearity { gelu, relu, tanh, swish };
enum class TaskType { classification, regression };

struct AdapterSpec {
  int64_t bottleneck = 64;  // m; must be > 0
  Nonlinearity nonlinearity = Nonlinearity::gelu;
  double init_std = 1e-3;  // truncated normal std of both projections; > 0
  friend bool operator==(const AdapterSpec&, const AdapterSpec&) = default;
};

struct DataSpec {
  std::string train;                      // path (relative to the spec file) or, later, a file id
  std::optional<std::string> validation;  // absent: hold out validation_fraction of train
  double validation_fraction = 0.1;       // in (0, 1)
  std::string text_field = "text";
  std::optional<std::string> text_pair_field;  // null/absent: single-text task
  std::string label_field = "label";
  TaskType task_type = TaskType::classification;  // "classification" | "regression"
  int64_t max_seq_len = 128;                      // in [8, max_position_embeddings]
  friend bool operator==(const DataSpec&, const DataSpec&) = default;
};

struct TrainSpec {
  int64_t epochs = 3;           // > 0
  int64_t batch_size = 32;      // global batch size; > 0
  double learning_rate = 1e-3;  // > 0
  double warmup_ratio = 0.1;    // in [0, 1)
  double weight_decay = 0.01;   // >= 0; not applied to biases and LayerNorms
  double max_grad_norm = 1.0;   // > 0 clips; 0 disables clipping
  uint64_t seed = 42;
  std::string metric;            // default: "accuracy" (classification) or "pearson" (regression)
  int64_t eval_every_steps = 0;  // 0: evaluate at the end of every epoch
  double dropout = 0.1;          // dropout in [0, 1) on hidden states and attention probabilities
  friend bool operator==(const TrainSpec&, const TrainSpec&) = default;
};

struct JobSpec {
  std::string task;                           // [a-z0-9][a-z0-9._-]{0,63}
  std::string backbone = "all-MiniLM-L6-v2";  // a descriptor name under configs/backbones/
  Method method = Method::houlsby;
  AdapterSpec adapter;
  DataSpec data;
  TrainSpec train;
  friend bool operator==(const JobSpec&, const JobSpec&) = default;
};

// Parses and validates a spec. Unknown fields, wrong types and bad values are errors that name
// the field (e.g. "job.json: field 'train.batch_size' must be > 0"); `origin` prefixes messages.
// Throws trellis::Error. An empty train.metric is replaced by the task type's default, so a parsed
// spec always names its metric. Thread-safe (pure functions).
JobSpec parse_job_spec(const nlohmann::json& json, const std::string& origin);
// Reads and parses a spec file (origin: the path). Missing/unreadable files and invalid JSON (with
// line and column) are errors naming the file. Does not resolve data paths: see resolve_data_paths.
JobSpec load_job_spec(const std::filesystem::path& path);

// Canonical JSON with every field spelled out (defaults included); parse_job_spec(to_json(s)) == s.
nlohmann::json to_json(const JobSpec& spec);

// Resolves data paths that are relative against `base_dir` (the spec file's directory).
void resolve_data_paths(JobSpec& spec, const std::filesystem::path& base_dir);

std::string to_string(Method m);
std::string to_string(Nonlinearity n);
std::string to_string(TaskType t);
// Metric names valid for a task type: accuracy, macro_f1, mcc | pearson, spearman, mse (lower is better).
bool metric_valid_for(const std::string& metric, TaskType t);
// Throws trellis::Error for a metric name that is not one of the above.
bool metric_higher_is_better(const std::string& metric);
// True if `name` matches [a-z0-9][a-z0-9._-]{0,63} (safe as a directory name in the registry).
bool valid_task_name(const std::string& name);
// "accuracy" for classification, "pearson" for regression.
std::string default_metric(TaskType t);

}  // namespace trellis
