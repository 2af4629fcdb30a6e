#include "trainer/train/job_runner.h"

#include "trainer/artifact/artifact.h"
#include "trainer/data/dataset.h"
#include "trainer/io/files.h"
#include "trainer/io/sha256.h"
#include "trainer/model/backbone.h"
#include "trainer/util/error.h"

#ifndef TRELLIS_VERSION
#define TRELLIS_VERSION "0.1.0"
#endif

namespace trellis {
namespace {

// Reads a data file once: its sha256 (for the lineage) and its examples come from the same bytes.
std::vector<RawExample> read_hashed_examples(const std::filesystem::path& path, const FieldNames& fields,
                                             TaskType type, std::string& sha256) {
  const std::string content = read_text_file(path);
  sha256 = sha256_hex(content);
  return examples_from_table(parse_table(content, table_format_from_path(path), path.string()), fields, type);
}

}  // namespace

JobRunResult run_training_job(const JobSpec& spec, std::shared_ptr<const Backbone> backbone, Communicator& comm,
                              const std::filesystem::path& out_dir, const TrainCallbacks& callbacks) {
  if (spec.backbone != backbone->name())
    throw Error("field 'backbone' is '" + spec.backbone + "' but the loaded backbone is '" + backbone->name() + "'");
  if (spec.data.max_seq_len > backbone->config().max_position_embeddings)
    throw Error("field 'data.max_seq_len' (" + std::to_string(spec.data.max_seq_len) + ") exceeds the backbone's " +
                std::to_string(backbone->config().max_position_embeddings) + " positions");
  // "runs/x/" and "runs/x" name the same artifact; an existing entry (even a dangling link) is
  // refused now, before any training.
  std::filesystem::path out = out_dir.lexically_normal();
  if (!out.has_filename()) out = out.parent_path();
  if (comm.rank() == 0 && std::filesystem::symlink_status(out).type() != std::filesystem::file_type::not_found)
    throw Error(out.string() + ": already exists; artifacts are never overwritten");

  const FieldNames fields = field_names_of(spec.data);
  const TaskType type = spec.data.task_type;
  const std::filesystem::path train_path = spec.data.train;
  std::string train_sha;
  std::vector<RawExample> train = read_hashed_examples(train_path, fields, type, train_sha);
  std::vector<RawExample> validation;
  std::optional<std::string> validation_sha;
  std::string validation_origin;
  if (spec.data.validation) {
    validation = read_hashed_examples(*spec.data.validation, fields, type, validation_sha.emplace());
    validation_origin = *spec.data.validation;
  } else {
    std::tie(train, validation) = split_holdout(std::move(train), spec.data.validation_fraction, spec.train.seed,
                                                type == TaskType::classification);
    validation_origin = train_path.string() + " (held-out part)";
  }

  std::optional<LabelSet> labels;
  if (type == TaskType::classification) {
    labels = LabelSet::from_examples(train);
    if (labels->size() < 2)
      throw Error(train_path.string() + ": field '" + fields.label + "' has a single label ('" + labels->name(0) +
                  "'); classification needs at least two");
  }
  const BertTokenizer& tok = backbone->tokenizer();
  const EncodedDataset train_set =
      encode_examples(tok, train, type, labels ? &*labels : nullptr, spec.data.max_seq_len, train_path.string());
  const EncodedDataset validation_set =
      encode_examples(tok, validation, type, labels ? &*labels : nullptr, spec.data.max_seq_len, validation_origin);

  const int64_t outputs = labels ? static_cast<int64_t>(labels->size()) : 1;
  TaskParams params = TaskParams::create(*backbone, spec.method, spec.adapter, outputs, spec.train.seed);
  Trainer trainer(backbone, spec, comm);
  JobRunResult result;
  result.train = trainer.train(params, train_set, validation_set, labels ? labels->size() : 0, callbacks);
  result.train_examples = train_set.size();
  result.validation_examples = validation_set.size();

  ArtifactManifest& m = result.manifest;
  m.task = spec.task;
  m.backbone_name = backbone->name();
  m.backbone_sha256 = backbone->weights_sha256();
  m.spec = spec;
  if (labels) m.labels = labels->names();
  m.metrics = result.train.best_metrics;
  m.best_step = result.train.best_step;
  m.params_backbone = backbone->num_parameters();
  m.train_sha256 = train_sha;
  m.validation_sha256 = validation_sha;
  m.created = utc_now_iso8601();
  m.trellis_version = TRELLIS_VERSION;
  if (comm.rank() == 0) m = write_artifact(out, m, params);
  return result;
}

}  // namespace trellis
