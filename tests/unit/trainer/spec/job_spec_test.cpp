#include "trainer/spec/job_spec.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json minimal() { return {{"task", "t"}, {"data", {{"train", "train.jsonl"}}}}; }

json full_example() {
  return json::parse(R"({"task": "uci-sentiment", "backbone": "all-MiniLM-L6-v2", "method": "houlsby",
 "adapter": {"bottleneck": 64, "nonlinearity": "gelu", "init_std": 0.001},
 "data": {"train": "train.jsonl", "validation": "dev.jsonl", "validation_fraction": 0.1, "text_field": "text",
          "text_pair_field": null, "label_field": "label", "task_type": "classification", "max_seq_len": 128},
 "train": {"epochs": 3, "batch_size": 32, "learning_rate": 0.001, "warmup_ratio": 0.1, "weight_decay": 0.01,
           "max_grad_norm": 1.0, "seed": 42, "metric": "accuracy", "eval_every_steps": 0, "dropout": 0.1}})");
}

// Expects parse_job_spec to throw an Error whose message contains every one of `parts`.
void expect_error(const json& j, std::initializer_list<std::string> parts) {
  try {
    parse_job_spec(j, "job.json");
    ADD_FAILURE() << "no error for " << j.dump();
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("job.json: ", 0), 0u) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

json with(json j, const json::json_pointer& ptr, json value) {
  j[ptr] = std::move(value);
  return j;
}
json with(const std::string& ptr, json value) { return with(minimal(), json::json_pointer(ptr), std::move(value)); }

TEST(JobSpec, MinimalSpecTakesHeaderDefaults) {
  JobSpec s = parse_job_spec(minimal(), "job.json");
  JobSpec d;
  d.task = "t";
  d.data.train = "train.jsonl";
  d.train.metric = "accuracy";
  EXPECT_EQ(s, d);
  EXPECT_EQ(s.backbone, "all-MiniLM-L6-v2");
  EXPECT_EQ(s.method, Method::houlsby);
  EXPECT_EQ(s.adapter.bottleneck, 64);
  EXPECT_EQ(s.adapter.nonlinearity, Nonlinearity::gelu);
  EXPECT_DOUBLE_EQ(s.adapter.init_std, 1e-3);
  EXPECT_FALSE(s.data.validation.has_value());
  EXPECT_FALSE(s.data.text_pair_field.has_value());
  EXPECT_EQ(s.data.max_seq_len, 128);
  EXPECT_EQ(s.train.seed, 42u);
  EXPECT_EQ(s.train.metric, "accuracy");
}

TEST(JobSpec, RegressionDefaultsToPearson) {
  JobSpec s = parse_job_spec(with("/data/task_type", "regression"), "x");
  EXPECT_EQ(s.data.task_type, TaskType::regression);
  EXPECT_EQ(s.train.metric, "pearson");
}

TEST(JobSpec, FullExampleParses) {
  JobSpec s = parse_job_spec(full_example(), "job.json");
  EXPECT_EQ(s.task, "uci-sentiment");
  EXPECT_EQ(s.data.validation, "dev.jsonl");
  EXPECT_EQ(s.train.batch_size, 32);
  EXPECT_DOUBLE_EQ(s.train.max_grad_norm, 1.0);
}

TEST(JobSpec, RoundTripThroughJson) {
  JobSpec s = parse_job_spec(full_example(), "job.json");
  s.method = Method::full;
  s.adapter.nonlinearity = Nonlinearity::swish;
  s.adapter.init_std = 0.0123456789012345;
  s.data.text_pair_field = "premise";
  s.data.task_type = TaskType::regression;
  s.train.metric = "mse";
  s.train.seed = 18446744073709551615ull;
  s.train.learning_rate = 3e-5;
  json j = to_json(s);
  EXPECT_EQ(parse_job_spec(j, "rt"), s);
  EXPECT_EQ(parse_job_spec(json::parse(j.dump()), "rt"), s);  // through text too
  // Every field is spelled out.
  EXPECT_EQ(j.size(), 6u);
  EXPECT_EQ(j["adapter"].size(), 3u);
  EXPECT_EQ(j["data"].size(), 8u);
  EXPECT_EQ(j["train"].size(), 10u);
  EXPECT_TRUE(to_json(parse_job_spec(minimal(), "m"))["data"]["validation"].is_null());
}

TEST(JobSpec, ToJsonOfDefaultsNamesTheMetric) {
  JobSpec s;
  s.task = "a";
  s.data.train = "b";
  EXPECT_EQ(to_json(s)["train"]["metric"], "accuracy");
}

TEST(JobSpec, NullValidationAllowed) {
  JobSpec s = parse_job_spec(with("/data/validation", nullptr), "x");
  EXPECT_FALSE(s.data.validation.has_value());
}

TEST(JobSpec, IntegralFloatsAcceptedForIntegers) {
  JobSpec s = parse_job_spec(with(with("/train/epochs", 3.0), json::json_pointer("/train/seed"), 7.0), "x");
  EXPECT_EQ(s.train.epochs, 3);
  EXPECT_EQ(s.train.seed, 7u);
  expect_error(with("/train/epochs", 3.5), {"'train.epochs'", "must be an integer", "3.5"});
  expect_error(with("/adapter/bottleneck", 1.5), {"'adapter.bottleneck'", "integer"});
  expect_error(with("/train/seed", 0.5), {"'train.seed'", "integer"});
  expect_error(with("/train/batch_size", 1e30), {"'train.batch_size'", "too large"});
}

TEST(JobSpec, RequiredFields) {
  expect_error(json{{"data", {{"train", "a"}}}}, {"'task'", "is required"});
  expect_error(json{{"task", "t"}}, {"'data'", "is required"});
  expect_error(json{{"task", "t"}, {"data", json::object()}}, {"'data.train'", "is required"});
  expect_error(with("/data/train", ""), {"'data.train'", "must not be empty"});
}

TEST(JobSpec, NotAnObject) {
  expect_error(json::array(), {"must be a JSON object", "array"});
  expect_error(json("x"), {"must be a JSON object"});
  expect_error(with("/train", 3), {"'train'", "must be an object", "integer"});
  expect_error(with("/adapter", nullptr), {"'adapter'", "must be an object", "null"});
  expect_error(with("/data", json::array()), {"'data'", "must be an object"});
}

TEST(JobSpec, UnknownFieldsAtEveryLevel) {
  expect_error(with("/tsak", "x"), {"field 'tsak' is unknown", "known fields", "task", "backbone"});
  expect_error(with("/train/batchsize", 3),
               {"field 'train.batchsize' is unknown", "did you mean 'train.batch_size'", "epochs", "batch_size"});
  expect_error(with("/adapter/size", 3), {"field 'adapter.size' is unknown", "bottleneck"});
  expect_error(with("/data/labels", 3), {"field 'data.labels' is unknown", "label_field"});
}

TEST(JobSpec, WrongTypesNameFieldAndType) {
  expect_error(with("/task", 3), {"'task'", "must be a string", "integer"});
  expect_error(with("/backbone", true), {"'backbone'", "must be a string", "boolean"});
  expect_error(with("/method", nullptr), {"'method'", "must be a string"});
  expect_error(with("/adapter/bottleneck", "64"), {"'adapter.bottleneck'", "must be an integer", "string"});
  expect_error(with("/adapter/init_std", "x"), {"'adapter.init_std'", "must be a number", "string"});
  expect_error(with("/data/validation", 3), {"'data.validation'", "must be a string or null"});
  expect_error(with("/data/text_pair_field", json::array()), {"'data.text_pair_field'", "string or null"});
  expect_error(with("/data/text_field", nullptr), {"'data.text_field'", "must be a string", "null"});
  expect_error(with("/data/max_seq_len", json::object()), {"'data.max_seq_len'", "integer", "object"});
  expect_error(with("/train/learning_rate", false), {"'train.learning_rate'", "must be a number", "boolean"});
  expect_error(with("/train/seed", "42"), {"'train.seed'", "string"});
  expect_error(with("/train/metric", 1), {"'train.metric'", "must be a string"});
}

TEST(JobSpec, EnumValues) {
  expect_error(with("/method", "lora"), {"'method'", "houlsby, full, head", "'lora'"});
  expect_error(with("/adapter/nonlinearity", "GELU"), {"'adapter.nonlinearity'", "gelu, relu, tanh, swish"});
  expect_error(with("/data/task_type", "ranking"), {"'data.task_type'", "classification, regression"});
  EXPECT_EQ(parse_job_spec(with("/method", "head"), "x").method, Method::head);
  EXPECT_EQ(parse_job_spec(with("/adapter/nonlinearity", "tanh"), "x").adapter.nonlinearity, Nonlinearity::tanh);
}

TEST(JobSpec, NamePatterns) {
  for (const std::string& ok : std::vector<std::string>{"a", "0", "uci-sentiment", "a.b_c-d", std::string(64, 'a')})
    EXPECT_NO_THROW(parse_job_spec(with("/task", ok), "x")) << ok;
  for (const std::string& bad : std::vector<std::string>{"", "A", "-a", ".a", "a/b", "a b", "é", std::string(65, 'a')})
    expect_error(with("/task", bad), {"'task'", "must match"});
  EXPECT_TRUE(valid_task_name("a-b.c_9"));
  EXPECT_FALSE(valid_task_name("a/b"));
  EXPECT_NO_THROW(parse_job_spec(with("/backbone", "BERT-base.v2"), "x"));
  expect_error(with("/backbone", "../etc"), {"'backbone'", "must match"});
}

TEST(JobSpec, ValueRanges) {
  expect_error(with("/adapter/bottleneck", 0), {"'adapter.bottleneck'", "[1, 4096]", "got 0"});
  expect_error(with("/adapter/bottleneck", 4097), {"'adapter.bottleneck'", "4096"});
  expect_error(with("/adapter/bottleneck", -3), {"'adapter.bottleneck'"});
  expect_error(with("/adapter/init_std", 0), {"'adapter.init_std'", "(0, 1]"});
  expect_error(with("/adapter/init_std", 1.5), {"'adapter.init_std'"});
  expect_error(with("/data/validation_fraction", 0), {"'data.validation_fraction'", "(0, 1)"});
  expect_error(with("/data/validation_fraction", 1), {"'data.validation_fraction'"});
  expect_error(with("/data/max_seq_len", 7), {"'data.max_seq_len'", "[8, 8192]"});
  expect_error(with("/data/max_seq_len", 8193), {"'data.max_seq_len'"});
  expect_error(with("/data/validation", ""), {"'data.validation'", "empty"});
  expect_error(with("/data/text_field", ""), {"'data.text_field'", "empty"});
  expect_error(with("/data/text_pair_field", ""), {"'data.text_pair_field'", "empty"});
  expect_error(with("/data/label_field", ""), {"'data.label_field'", "empty"});
  expect_error(with("/train/epochs", 0), {"'train.epochs'", "must be > 0"});
  expect_error(with("/train/batch_size", -1), {"'train.batch_size'", "must be > 0", "got -1"});
  expect_error(with("/train/learning_rate", 0), {"'train.learning_rate'", "must be > 0"});
  expect_error(with("/train/learning_rate", -1e-3), {"'train.learning_rate'"});
  expect_error(with("/train/learning_rate", std::numeric_limits<double>::infinity()),
               {"'train.learning_rate'", "finite"});
  expect_error(with("/train/learning_rate", std::nan("")), {"'train.learning_rate'"});
  expect_error(with("/train/warmup_ratio", 1), {"'train.warmup_ratio'", "[0, 1)"});
  expect_error(with("/train/warmup_ratio", -0.1), {"'train.warmup_ratio'"});
  expect_error(with("/train/weight_decay", -0.1), {"'train.weight_decay'", ">= 0"});
  expect_error(with("/train/max_grad_norm", -1), {"'train.max_grad_norm'", ">= 0"});
  expect_error(with("/train/eval_every_steps", -1), {"'train.eval_every_steps'", ">= 0"});
  expect_error(with("/train/dropout", 1), {"'train.dropout'", "[0, 1)"});
  expect_error(with("/train/seed", -1), {"'train.seed'", "non-negative integer"});
  expect_error(with("/train/seed", -1.0), {"'train.seed'", "non-negative integer"});
  // Boundaries that are allowed.
  EXPECT_NO_THROW(parse_job_spec(with("/train/warmup_ratio", 0), "x"));
  EXPECT_NO_THROW(parse_job_spec(with("/train/max_grad_norm", 0), "x"));
  EXPECT_NO_THROW(parse_job_spec(with("/train/dropout", 0), "x"));
  EXPECT_NO_THROW(parse_job_spec(with("/adapter/init_std", 1), "x"));
  EXPECT_NO_THROW(parse_job_spec(with("/data/max_seq_len", 8), "x"));
  EXPECT_NO_THROW(parse_job_spec(with("/data/max_seq_len", 8192), "x"));
  EXPECT_NO_THROW(parse_job_spec(with("/adapter/bottleneck", 4096), "x"));
}

TEST(JobSpec, MetricMustFitTaskType) {
  expect_error(with("/train/metric", "pearson"), {"'train.metric'", "accuracy, macro_f1, mcc", "classification"});
  json reg = with("/data/task_type", "regression");
  expect_error(with(reg, json::json_pointer("/train/metric"), "accuracy"),
               {"'train.metric'", "pearson, spearman, mse", "regression"});
  expect_error(with("/train/metric", "auc"), {"'train.metric'"});
  EXPECT_EQ(parse_job_spec(with("/train/metric", "mcc"), "x").train.metric, "mcc");
  EXPECT_EQ(parse_job_spec(with("/train/metric", ""), "x").train.metric, "accuracy");
}

TEST(JobSpec, MetricHelpers) {
  EXPECT_TRUE(metric_valid_for("macro_f1", TaskType::classification));
  EXPECT_FALSE(metric_valid_for("macro_f1", TaskType::regression));
  EXPECT_TRUE(metric_valid_for("spearman", TaskType::regression));
  EXPECT_TRUE(metric_higher_is_better("accuracy"));
  EXPECT_TRUE(metric_higher_is_better("pearson"));
  EXPECT_FALSE(metric_higher_is_better("mse"));
  EXPECT_THROW(metric_higher_is_better("nope"), Error);
  EXPECT_EQ(to_string(Method::houlsby), "houlsby");
  EXPECT_EQ(to_string(Nonlinearity::swish), "swish");
  EXPECT_EQ(to_string(TaskType::regression), "regression");
}

TEST(JobSpec, EmptyOriginStillPrefixes) {
  try {
    parse_job_spec(json::object(), "");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("job spec: ", 0), 0u) << e.what();
  }
}

class JobSpecFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("trellis_job_spec_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

std::string error_of(const fs::path& p) {
  try {
    load_job_spec(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(JobSpecFile, LoadsAFile) {
  fs::path p = write("job.json", full_example().dump(2));
  EXPECT_EQ(load_job_spec(p), parse_job_spec(full_example(), "x"));
}

TEST_F(JobSpecFile, MissingFileNamesIt) {
  std::string msg = error_of(dir_ / "nope.json");
  EXPECT_NE(msg.find("nope.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
}

TEST_F(JobSpecFile, DirectoryIsNotAFile) {
  std::string msg = error_of(dir_);
  EXPECT_NE(msg.find(dir_.string()), std::string::npos) << msg;
}

TEST_F(JobSpecFile, InvalidJsonNamesFileLineAndColumn) {
  fs::path p = write("bad.json", "{\n  \"task\": \"a\",\n  \"data\": {\"train\": \"x\",}\n}\n");
  std::string msg = error_of(p);
  EXPECT_EQ(msg.rfind(p.string() + ": invalid JSON", 0), 0u) << msg;
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("column"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("[json.exception"), std::string::npos) << msg;
}

TEST_F(JobSpecFile, EmptyFileIsInvalidJson) {
  std::string msg = error_of(write("empty.json", ""));
  EXPECT_NE(msg.find("empty.json: invalid JSON"), std::string::npos) << msg;
}

TEST_F(JobSpecFile, DuplicateKeysAreErrors) {
  std::string msg =
      error_of(write("dup.json", R"({"task": "a", "train": {"epochs": 1, "epochs": 2}, "data": {"train": "x"}})"));
  EXPECT_NE(msg.find("dup.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'train.epochs' appears more than once"), std::string::npos) << msg;
}

TEST_F(JobSpecFile, ErrorsArePrefixedByThePath) {
  std::string msg = error_of(write("v.json", R"({"task": "a", "train": {"epochs": 0}, "data": {"train": "x"}})"));
  EXPECT_EQ(msg, (dir_ / "v.json").string() + ": field 'train.epochs' must be > 0 (got 0)");
}

TEST(JobSpecPaths, ResolvesRelativeAgainstBaseDir) {
  JobSpec s = parse_job_spec(full_example(), "x");
  s.data.train = "sub/../train.jsonl";
  resolve_data_paths(s, "/data/specs");
  EXPECT_EQ(s.data.train, "/data/specs/train.jsonl");
  EXPECT_EQ(s.data.validation, "/data/specs/dev.jsonl");

  s.data.train = "/abs/train.jsonl";
  s.data.validation.reset();
  resolve_data_paths(s, "/data/specs");
  EXPECT_EQ(s.data.train, "/abs/train.jsonl");
  EXPECT_FALSE(s.data.validation.has_value());

  s.data.train = "t.jsonl";
  resolve_data_paths(s, "rel");  // a relative base is made absolute against the cwd
  EXPECT_EQ(fs::path(s.data.train), (fs::current_path() / "rel/t.jsonl").lexically_normal());
}

}  // namespace
}  // namespace trellis
