#include "trainer/train/job_runner.h"

#include <nlohmann/json.hpp>

#include "trainer/artifact/artifact.h"
#include "trainer/data/dataset.h"
#include "common/files.h"
#include "common/sha256.h"
#include "trainer/model/backbone.h"
#include "trainer/model/tensor_io.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/collectives.h"
#include "common/error.h"

#ifndef TRELLIS_VERSION
#define TRELLIS_VERSION "0.1.0"
#endif

namespace trellis {
namespace {

// Reads a data file once: its sha256 (for the lineage) and its examples come from the same bytes.
std::vector<RawExample> read_hashed_examples(const std::filesystem::path& path, const FieldNames& fields, TaskType type,
                                             std::string& sha256) {
  const std::string content = read_text_file(path);
  sha256 = sha256_hex(content);
  return examples_from_table(parse_table(content, table_format_from_path(path), path.string()), fields, type);
}

std::string job_fingerprint(const PreparedJob& job, const Backbone& backbone) {
  nlohmann::json j = to_json(job.spec);
  j["data"].erase("train");
  j["data"].erase("validation");
  j["train_sha256"] = job.train_sha256;
  j["validation_sha256"] = job.validation_sha256 ? *job.validation_sha256 : "";
  j["backbone_sha256"] = backbone.weights_sha256();
  return sha256_hex(j.dump());
}

// Rank 0's checkpoint file (if any) reaches every rank.
std::optional<TrainingCheckpoint> load_checkpoint_everywhere(const std::filesystem::path& file, Communicator& comm) {
  std::string bytes;
  if (comm.rank() == 0 && std::filesystem::exists(file)) {
    const std::vector<std::byte> raw = read_binary_file(file);
    bytes.assign(reinterpret_cast<const char*>(raw.data()), raw.size());
  }
  bytes = broadcast_bytes(comm, bytes, 0);
  if (bytes.empty()) return std::nullopt;
  const auto* data = reinterpret_cast<const std::byte*>(bytes.data());
  return parse_checkpoint(std::vector<std::byte>(data, data + bytes.size()), file.string());
}

// Collective: throws unless every rank holds bit-identical task tensors.
void verify_replicas(const TaskParams& params, Communicator& comm) {
  const std::string mine = sha256_hex(serialize_tensors(params.tensors()));
  const std::string rank0 = broadcast_bytes(comm, mine, 0);
  at::Tensor mismatches = at::tensor({mine == rank0 ? 0 : 1}, at::TensorOptions().dtype(at::kInt));
  comm.allreduce_sum(mismatches);
  if (const int n = mismatches.item<int>(); n > 0)
    throw Error("replica divergence: " + std::to_string(n) + " rank(s) hold task tensors that differ from rank 0's");
}

}  // namespace

PreparedJob prepare_training_job(const JobSpec& spec, const Backbone& backbone, const std::filesystem::path& out_dir,
                                 bool check_out) {
  if (spec.backbone != backbone.name())
    throw Error("field 'backbone' is '" + spec.backbone + "' but the loaded backbone is '" + backbone.name() + "'");
  if (spec.data.max_seq_len > backbone.config().max_position_embeddings)
    throw Error("field 'data.max_seq_len' (" + std::to_string(spec.data.max_seq_len) + ") exceeds the backbone's " +
                std::to_string(backbone.config().max_position_embeddings) + " positions");
  PreparedJob job;
  job.spec = spec;
  // "runs/x/" and "runs/x" name the same artifact; an existing entry (even a dangling link) is
  // refused now, before any training.
  job.out = out_dir.lexically_normal();
  if (!job.out.has_filename()) job.out = job.out.parent_path();
  if (check_out && std::filesystem::symlink_status(job.out).type() != std::filesystem::file_type::not_found)
    throw Error(job.out.string() + ": already exists; artifacts are never overwritten");

  const FieldNames fields = field_names_of(spec.data);
  const TaskType type = spec.data.task_type;
  const std::filesystem::path train_path = spec.data.train;
  std::vector<RawExample> train = read_hashed_examples(train_path, fields, type, job.train_sha256);
  std::vector<RawExample> validation;
  std::string validation_origin;
  if (spec.data.validation) {
    validation = read_hashed_examples(*spec.data.validation, fields, type, job.validation_sha256.emplace());
    validation_origin = *spec.data.validation;
  } else {
    std::tie(train, validation) = split_holdout(std::move(train), spec.data.validation_fraction, spec.train.seed,
                                                type == TaskType::classification);
    validation_origin = train_path.string() + " (held-out part)";
  }
  if (type == TaskType::classification) {
    job.labels = LabelSet::from_examples(train);
    if (job.labels->size() < 2)
      throw Error(train_path.string() + ": field '" + fields.label + "' has a single label ('" + job.labels->name(0) +
                  "'); classification needs at least two");
  }
  const BertTokenizer& tok = backbone.tokenizer();
  const LabelSet* labels = job.labels ? &*job.labels : nullptr;
  job.train = encode_examples(tok, train, type, labels, spec.data.max_seq_len, train_path.string());
  job.validation = encode_examples(tok, validation, type, labels, spec.data.max_seq_len, validation_origin);
  if (job.train.size() == 0) throw Error(train_path.string() + ": no training examples");
  if (job.validation.size() == 0) throw Error(validation_origin + ": no validation examples");
  job.fingerprint = job_fingerprint(job, backbone);
  return job;
}

JobRunResult run_prepared_job(const PreparedJob& job, std::shared_ptr<const Backbone> backbone, Communicator& comm,
                              const JobRunOptions& options) {
  const JobSpec& spec = job.spec;
  JobRunResult result;
  std::optional<TrainingCheckpoint> resume;
  TrainCallbacks callbacks = options.callbacks;
  if (!options.checkpoint_file.empty()) {
    resume = load_checkpoint_everywhere(options.checkpoint_file, comm);
    if (resume && resume->fingerprint != job.fingerprint)
      throw Error(
          options.checkpoint_file.string() +
          ": the checkpoint belongs to another job (its spec, data or backbone differ); remove it to start afresh");
    if (resume) result.resumed_from_step = resume->step;
    const std::string fingerprint = job.fingerprint;
    const std::filesystem::path file = options.checkpoint_file;
    auto user = options.callbacks.on_checkpoint;
    callbacks.on_checkpoint = [fingerprint, file, user](const TrainingCheckpoint& c) {
      TrainingCheckpoint stamped = c;
      stamped.fingerprint = fingerprint;
      save_checkpoint(file, stamped);
      if (user) user(stamped);
    };
  }

  const size_t num_classes = job.labels ? job.labels->size() : 0;
  const int64_t outputs = job.labels ? static_cast<int64_t>(job.labels->size()) : 1;
  TaskParams params = TaskParams::create(*backbone, spec.method, spec.adapter, outputs, spec.train.seed);
  params.to(backbone->device());  // created on the CPU (the same values on every device)
  Trainer trainer(backbone, spec, comm);
  result.train = trainer.train(params, job.train, job.validation, num_classes, callbacks, resume ? &*resume : nullptr);
  result.train_examples = job.train.size();
  result.validation_examples = job.validation.size();
  if (result.train.outcome != TrainOutcome::completed) return result;
  if (comm.size() > 1) {
    verify_replicas(params, comm);
    result.replicas_verified = true;
  }

  ArtifactManifest& m = result.manifest;
  m.task = spec.task;
  m.backbone_name = backbone->name();
  m.backbone_sha256 = backbone->weights_sha256();
  m.spec = spec;
  if (job.labels) m.labels = job.labels->names();
  m.metrics = result.train.best_metrics;
  m.best_step = result.train.best_step;
  m.params_backbone = backbone->num_parameters();
  m.train_sha256 = job.train_sha256;
  m.validation_sha256 = job.validation_sha256;
  m.created = utc_now_iso8601();
  m.trellis_version = TRELLIS_VERSION;
  if (comm.rank() == 0) {
    m = write_artifact(job.out, m, params);
    if (!options.checkpoint_file.empty()) std::filesystem::remove(options.checkpoint_file);
  }
  return result;
}

JobRunResult run_training_job(const JobSpec& spec, std::shared_ptr<const Backbone> backbone, Communicator& comm,
                              const std::filesystem::path& out_dir, const JobRunOptions& options) {
  const PreparedJob job = prepare_training_job(spec, *backbone, out_dir, comm.rank() == 0);
  return run_prepared_job(job, std::move(backbone), comm, options);
}

}  // namespace trellis
