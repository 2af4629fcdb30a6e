#include "trainer/spec/job_spec.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "trainer/spec/backbone_descriptor.h"
#include "common/error.h"

namespace trellis {
namespace {

using nlohmann::json;

std::string type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    default: return "an unsupported JSON value";
  }
}

std::string num(double v) { return json(v).dump(); }

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t next = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = row[j];
      row[j] = next;
    }
  }
  return row[b.size()];
}

// Reads the fields of one JSON object, naming each by its dotted path in errors.
class ObjectReader {
 public:
  ObjectReader(const json& obj, std::string prefix, const std::string& origin, std::vector<std::string> known)
      : obj_(obj), prefix_(std::move(prefix)), origin_(origin), known_(std::move(known)) {
    for (const auto& [key, value] : obj_.items()) {
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string msg = "is unknown";
      for (const auto& k : known_)
        if (edit_distance(key, k) <= 2) {
          msg += " (did you mean '" + prefix_ + k + "'?)";
          break;
        }
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail(key, msg + "; known fields" +
                    (prefix_.empty() ? "" : " of '" + prefix_.substr(0, prefix_.size() - 1) + "'") + ": " + list);
    }
  }

  [[noreturn]] void fail(const std::string& key, const std::string& msg) const {
    throw Error(origin_ + ": field '" + prefix_ + key + "' " + msg);
  }

  const json* find(const std::string& key) const {
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }
  const json& require(const std::string& key) const {
    const json* v = find(key);
    if (!v) fail(key, "is required");
    return *v;
  }

  void read(const std::string& key, std::string& out) const {
    if (const json* v = find(key)) out = as_string(key, *v);
  }
  void read(const std::string& key, std::optional<std::string>& out) const {
    const json* v = find(key);
    if (!v) return;
    if (v->is_null()) out.reset();
    else out = as_string(key, *v, " or null");
  }
  void read(const std::string& key, double& out) const {
    const json* v = find(key);
    if (!v) return;
    if (!v->is_number()) fail(key, "must be a number, not " + type_name(*v));
    out = v->get<double>();
    if (!std::isfinite(out)) fail(key, "must be a finite number");
  }
  void read(const std::string& key, int64_t& out) const {
    const json* v = find(key);
    if (!v) return;
    if (v->is_number_unsigned()) {
      if (v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) fail(key, "is too large");
      out = v->get<int64_t>();
    } else if (v->is_number_integer()) {
      out = v->get<int64_t>();
    } else {
      double d = integral_double(key, *v);
      if (d < -9.2e18 || d > 9.2e18) fail(key, "is too large");
      out = static_cast<int64_t>(d);
    }
  }
  void read(const std::string& key, uint64_t& out) const {
    const json* v = find(key);
    if (!v) return;
    if (v->is_number_unsigned()) {
      out = v->get<uint64_t>();
    } else if (v->is_number_integer()) {
      fail(key, "must be a non-negative integer (got " + v->dump() + ")");
    } else {
      double d = integral_double(key, *v);
      if (d < 0) fail(key, "must be a non-negative integer (got " + v->dump() + ")");
      if (d >= 1.8e19) fail(key, "is too large");
      out = static_cast<uint64_t>(d);
    }
  }
  template <typename E, size_t N>
  void read_enum(const std::string& key, E& out, const std::pair<const char*, E> (&names)[N]) const {
    const json* v = find(key);
    if (!v) return;
    std::string s = as_string(key, *v);
    std::string list;
    for (const auto& [name, value] : names) {
      if (s == name) {
        out = value;
        return;
      }
      list += (list.empty() ? "" : ", ") + std::string(name);
    }
    fail(key, "must be one of " + list + " (got '" + s + "')");
  }
  // A nested object; absent -> empty object (all defaults).
  const json& object(const std::string& key, bool required) const {
    static const json empty = json::object();
    const json* v = required ? &require(key) : find(key);
    if (!v) return empty;
    if (!v->is_object()) fail(key, "must be an object, not " + type_name(*v));
    return *v;
  }

 private:
  std::string as_string(const std::string& key, const json& v, const char* alt = "") const {
    if (!v.is_string()) fail(key, std::string("must be a string") + alt + ", not " + type_name(v));
    return v.get<std::string>();
  }
  double integral_double(const std::string& key, const json& v) const {
    if (!v.is_number_float()) fail(key, "must be an integer, not " + type_name(v));
    double d = v.get<double>();
    if (!std::isfinite(d) || std::trunc(d) != d) fail(key, "must be an integer (got " + v.dump() + ")");
    return d;
  }

  const json& obj_;
  std::string prefix_;
  const std::string& origin_;
  std::vector<std::string> known_;
};

constexpr std::pair<const char*, Method> kMethods[] = {
    {"houlsby", Method::houlsby}, {"full", Method::full}, {"head", Method::head}};
constexpr std::pair<const char*, Nonlinearity> kNonlinearities[] = {{"gelu", Nonlinearity::gelu},
                                                                    {"relu", Nonlinearity::relu},
                                                                    {"tanh", Nonlinearity::tanh},
                                                                    {"swish", Nonlinearity::swish}};
constexpr std::pair<const char*, TaskType> kTaskTypes[] = {{"classification", TaskType::classification},
                                                           {"regression", TaskType::regression}};

const std::vector<std::string>& metrics_for(TaskType t) {
  static const std::vector<std::string> cls = {"accuracy", "macro_f1", "mcc"};
  static const std::vector<std::string> reg = {"pearson", "spearman", "mse"};
  return t == TaskType::classification ? cls : reg;
}

template <typename E, size_t N>
std::string enum_name(E e, const std::pair<const char*, E> (&names)[N]) {
  for (const auto& [name, value] : names)
    if (value == e) return name;
  throw Error("invalid enum value " + std::to_string(static_cast<int>(e)));
}

}  // namespace

std::string to_string(Method m) { return enum_name(m, kMethods); }
std::string to_string(Nonlinearity n) { return enum_name(n, kNonlinearities); }
std::string to_string(TaskType t) { return enum_name(t, kTaskTypes); }

bool metric_valid_for(const std::string& metric, TaskType t) {
  const auto& names = metrics_for(t);
  return std::find(names.begin(), names.end(), metric) != names.end();
}

bool metric_higher_is_better(const std::string& metric) {
  if (metric == "mse") return false;
  if (metric_valid_for(metric, TaskType::classification) || metric_valid_for(metric, TaskType::regression)) return true;
  throw Error("unknown metric '" + metric + "'");
}

bool valid_task_name(const std::string& name) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 64 || !lower_alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return lower_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string default_metric(TaskType t) { return t == TaskType::classification ? "accuracy" : "pearson"; }

JobSpec parse_job_spec(const json& root, const std::string& origin_in) {
  const std::string origin = origin_in.empty() ? "job spec" : origin_in;
  if (!root.is_object()) throw Error(origin + ": a job spec must be a JSON object, not " + type_name(root));
  JobSpec s;
  ObjectReader top(root, "", origin, {"task", "backbone", "method", "adapter", "data", "train"});
  top.require("task");
  top.read("task", s.task);
  top.read("backbone", s.backbone);
  top.read_enum("method", s.method, kMethods);

  ObjectReader adapter(top.object("adapter", false), "adapter.", origin, {"bottleneck", "nonlinearity", "init_std"});
  adapter.read("bottleneck", s.adapter.bottleneck);
  adapter.read_enum("nonlinearity", s.adapter.nonlinearity, kNonlinearities);
  adapter.read("init_std", s.adapter.init_std);

  ObjectReader data(top.object("data", true), "data.", origin,
                    {"train", "validation", "validation_fraction", "text_field", "text_pair_field", "label_field",
                     "task_type", "max_seq_len"});
  data.require("train");
  data.read("train", s.data.train);
  data.read("validation", s.data.validation);
  data.read("validation_fraction", s.data.validation_fraction);
  data.read("text_field", s.data.text_field);
  data.read("text_pair_field", s.data.text_pair_field);
  data.read("label_field", s.data.label_field);
  data.read_enum("task_type", s.data.task_type, kTaskTypes);
  data.read("max_seq_len", s.data.max_seq_len);

  ObjectReader train(top.object("train", false), "train.", origin,
                     {"epochs", "batch_size", "learning_rate", "warmup_ratio", "weight_decay", "max_grad_norm", "seed",
                      "metric", "eval_every_steps", "dropout"});
  train.read("epochs", s.train.epochs);
  train.read("batch_size", s.train.batch_size);
  train.read("learning_rate", s.train.learning_rate);
  train.read("warmup_ratio", s.train.warmup_ratio);
  train.read("weight_decay", s.train.weight_decay);
  train.read("max_grad_norm", s.train.max_grad_norm);
  train.read("seed", s.train.seed);
  train.read("metric", s.train.metric);
  train.read("eval_every_steps", s.train.eval_every_steps);
  train.read("dropout", s.train.dropout);

  // Values. (Types were checked above; every double is finite.)
  if (!valid_task_name(s.task)) top.fail("task", "must match [a-z0-9][a-z0-9._-]{0,63} (got '" + s.task + "')");
  if (!valid_backbone_name(s.backbone))
    top.fail("backbone", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,63} (got '" + s.backbone + "')");

  if (s.adapter.bottleneck <= 0 || s.adapter.bottleneck > 4096)
    adapter.fail("bottleneck", "must be in [1, 4096] (got " + std::to_string(s.adapter.bottleneck) + ")");
  if (!(s.adapter.init_std > 0 && s.adapter.init_std <= 1))
    adapter.fail("init_std", "must be in (0, 1] (got " + num(s.adapter.init_std) + ")");

  if (s.data.train.empty()) data.fail("train", "must not be empty");
  if (s.data.validation && s.data.validation->empty()) data.fail("validation", "must not be empty (use null)");
  if (!(s.data.validation_fraction > 0 && s.data.validation_fraction < 1))
    data.fail("validation_fraction", "must be in (0, 1) (got " + num(s.data.validation_fraction) + ")");
  if (s.data.text_field.empty()) data.fail("text_field", "must not be empty");
  if (s.data.text_pair_field && s.data.text_pair_field->empty())
    data.fail("text_pair_field", "must not be empty (use null)");
  if (s.data.label_field.empty()) data.fail("label_field", "must not be empty");
  if (s.data.max_seq_len < 8 || s.data.max_seq_len > 8192)
    data.fail("max_seq_len", "must be in [8, 8192] (got " + std::to_string(s.data.max_seq_len) + ")");

  if (s.train.epochs <= 0) train.fail("epochs", "must be > 0 (got " + std::to_string(s.train.epochs) + ")");
  if (s.train.batch_size <= 0) train.fail("batch_size", "must be > 0 (got " + std::to_string(s.train.batch_size) + ")");
  if (!(s.train.learning_rate > 0)) train.fail("learning_rate", "must be > 0 (got " + num(s.train.learning_rate) + ")");
  if (!(s.train.warmup_ratio >= 0 && s.train.warmup_ratio < 1))
    train.fail("warmup_ratio", "must be in [0, 1) (got " + num(s.train.warmup_ratio) + ")");
  if (!(s.train.weight_decay >= 0)) train.fail("weight_decay", "must be >= 0 (got " + num(s.train.weight_decay) + ")");
  if (!(s.train.max_grad_norm >= 0))
    train.fail("max_grad_norm", "must be >= 0 (0 disables clipping; got " + num(s.train.max_grad_norm) + ")");
  if (s.train.eval_every_steps < 0)
    train.fail("eval_every_steps",
               "must be >= 0 (0: every epoch; got " + std::to_string(s.train.eval_every_steps) + ")");
  if (!(s.train.dropout >= 0 && s.train.dropout < 1))
    train.fail("dropout", "must be in [0, 1) (got " + num(s.train.dropout) + ")");
  if (s.train.metric.empty()) s.train.metric = default_metric(s.data.task_type);
  if (!metric_valid_for(s.train.metric, s.data.task_type)) {
    std::string list;
    for (const auto& m : metrics_for(s.data.task_type)) list += (list.empty() ? "" : ", ") + m;
    train.fail("metric", "must be one of " + list + " for a " + to_string(s.data.task_type) + " task (got '" +
                             s.train.metric + "')");
  }
  return s;
}

JobSpec load_job_spec(const std::filesystem::path& path) { return parse_job_spec(read_json_file(path), path.string()); }

json to_json(const JobSpec& s) {
  auto opt = [](const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); };
  return json{
      {"task", s.task},
      {"backbone", s.backbone},
      {"method", to_string(s.method)},
      {"adapter",
       {{"bottleneck", s.adapter.bottleneck},
        {"nonlinearity", to_string(s.adapter.nonlinearity)},
        {"init_std", s.adapter.init_std}}},
      {"data",
       {{"train", s.data.train},
        {"validation", opt(s.data.validation)},
        {"validation_fraction", s.data.validation_fraction},
        {"text_field", s.data.text_field},
        {"text_pair_field", opt(s.data.text_pair_field)},
        {"label_field", s.data.label_field},
        {"task_type", to_string(s.data.task_type)},
        {"max_seq_len", s.data.max_seq_len}}},
      {"train",
       {{"epochs", s.train.epochs},
        {"batch_size", s.train.batch_size},
        {"learning_rate", s.train.learning_rate},
        {"warmup_ratio", s.train.warmup_ratio},
        {"weight_decay", s.train.weight_decay},
        {"max_grad_norm", s.train.max_grad_norm},
        {"seed", s.train.seed},
        {"metric", s.train.metric.empty() ? default_metric(s.data.task_type) : s.train.metric},
        {"eval_every_steps", s.train.eval_every_steps},
        {"dropout", s.train.dropout}}},
  };
}

void resolve_data_paths(JobSpec& spec, const std::filesystem::path& base_dir) {
  auto resolve = [&](std::string& p) {
    std::filesystem::path path(p);
    if (path.is_relative()) p = (std::filesystem::absolute(base_dir) / path).lexically_normal().string();
  };
  resolve(spec.data.train);
  if (spec.data.validation) resolve(*spec.data.validation);
}

}  // namespace trellis
