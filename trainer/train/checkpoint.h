#pragma once
// The resumable state of one training run after a whole optimizer step: the task's tensors, the
// AdamW moments, the best evaluation so far (and its tensors), and the step. Together with the
// job spec and the data this determines the rest of the run exactly: the data position is a
// function of the step (epoch = step / batches per epoch, batch order seeded by (seed, epoch)),
// and each rank's dropout stream is reseeded at every step from (seed, rank, step), so no RNG
// state needs storing. Resuming on the same world size is bit-exact with an uninterrupted run.
//
// On disk: one safetensors file, written to a temporary name, fsynced and renamed, so a crash
// leaves the previous checkpoint or the new one, never a mix. Tensors "param/<name>",
// "exp_avg/<name>", "exp_avg_sq/<name>", "best/<name>"; the scalars in the metadata.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trellis {

struct TrainingCheckpoint {
  int64_t step = 0;         // optimizer updates done
  int64_t total_steps = 0;  // of the whole run (a consistency check on resume)
  int world_size = 1;       // the group that wrote it (resuming on another size is exact no more)
  std::string fingerprint;  // identifies spec, data and backbone; resume refuses a mismatch
  std::map<std::string, at::Tensor> params;
  std::map<std::string, at::Tensor> exp_avg, exp_avg_sq;
  // The kept (best) evaluation, if one happened yet.
  std::optional<std::map<std::string, at::Tensor>> best_params;
  std::map<std::string, double> best_metrics;
  double best_value = 0;
  int64_t best_step = 0;
  // Throughput counters, so that reports after a resume stay meaningful.
  int64_t samples = 0;
  double train_seconds = 0;
};

// Atomically replaces `path` with `checkpoint` (parent directory created if missing).
void save_checkpoint(const std::filesystem::path& path, const TrainingCheckpoint& checkpoint);
// Reads a checkpoint; trellis::Error naming the file for anything missing or malformed.
TrainingCheckpoint load_checkpoint(const std::filesystem::path& path);
// The same from a checkpoint file's bytes (e.g. broadcast from rank 0); `origin` names it in errors.
TrainingCheckpoint parse_checkpoint(std::vector<std::byte> bytes, const std::string& origin);

}  // namespace trellis
