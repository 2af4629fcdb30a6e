#pragma once
// One training job end to end in this process: read and validate the data, hold out validation
// if needed, tokenise, train, and write the artifact (atomically) to `out_dir`.
// Every bad input is reported before training starts, and nothing is written on any error.
#include <filesystem>
#include <memory>

#include "trainer/artifact/manifest.h"
#include "trainer/spec/job_spec.h"
#include "trainer/train/communicator.h"
#include "trainer/train/trainer.h"

namespace trellis {

class Backbone;

struct JobRunResult {
  ArtifactManifest manifest;
  TrainResult train;
  size_t train_examples = 0;
  size_t validation_examples = 0;
};

// `spec` must have absolute data paths (resolve_data_paths). Only rank 0 writes the artifact.
JobRunResult run_training_job(const JobSpec& spec, std::shared_ptr<const Backbone> backbone, Communicator& comm,
                              const std::filesystem::path& out_dir, const TrainCallbacks& callbacks = {});

}  // namespace trellis
