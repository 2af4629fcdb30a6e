#pragma once
// One training job end to end: read and validate the data, hold out validation if needed,
// tokenise (prepare_training_job), then train, checkpointing and resuming if asked, and write the
// artifact atomically on rank 0 (run_prepared_job). Every bad input is reported by the prepare
// phase, before any collective, so a worker group can fail a bad job on every rank alike and go on.
// Nothing is written on any error, and no artifact unless the run completed.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "trainer/artifact/manifest.h"
#include "trainer/data/label_set.h"
#include "trainer/spec/job_spec.h"
#include "trainer/train/communicator.h"
#include "trainer/train/encoded_dataset.h"
#include "trainer/train/trainer.h"

namespace trellis {

class Backbone;

struct PreparedJob {
  JobSpec spec;
  std::filesystem::path out;  // normalised artifact directory (no trailing slash)
  EncodedDataset train, validation;
  std::optional<LabelSet> labels;  // classification only
  std::string train_sha256;
  std::optional<std::string> validation_sha256;
  // sha256 over the spec (data paths aside), the data's and the backbone's sha256: what a
  // checkpoint must match to be resumed by this job.
  std::string fingerprint;
};

struct JobRunOptions {
  TrainCallbacks callbacks;
  // Empty: no checkpoints. Otherwise rank 0 keeps the latest checkpoint there (callbacks'
  // checkpoint_every and control requests decide when); if the file exists when the job starts,
  // the job resumes from it (it reaches every rank by broadcast; a fingerprint mismatch is an
  // error). Rank 0 removes it once the artifact is written.
  std::filesystem::path checkpoint_file;
};

struct JobRunResult {
  ArtifactManifest manifest;  // written only when train.outcome is completed (rank 0)
  TrainResult train;
  size_t train_examples = 0;
  size_t validation_examples = 0;
  int64_t resumed_from_step = -1;  // -1: started fresh
  // Completed runs on several ranks: every rank's final tensors were compared (sha256 of their
  // serialised bytes) before rank 0 wrote the artifact; a mismatch is an error, never an artifact.
  bool replicas_verified = false;
};

// `spec` must have absolute data paths (resolve_data_paths). With `check_out`, an existing
// `out_dir` (even a dangling link) is an error now, before any training.
PreparedJob prepare_training_job(const JobSpec& spec, const Backbone& backbone, const std::filesystem::path& out_dir,
                                 bool check_out);
// Collective: every rank of `comm` calls it with the same prepared job.
JobRunResult run_prepared_job(const PreparedJob& job, std::shared_ptr<const Backbone> backbone, Communicator& comm,
                              const JobRunOptions& options = {});
// Both phases (only rank 0 checks and writes `out_dir`).
JobRunResult run_training_job(const JobSpec& spec, std::shared_ptr<const Backbone> backbone, Communicator& comm,
                              const std::filesystem::path& out_dir, const JobRunOptions& options = {});

}  // namespace trellis
