#pragma once
// Text forms of the coordinator's jobs and events (the wire types of protocol/messages.h) for the
// `trellis` job commands: one-line events, the `jobs` table, `status`, and the live progress bar.
// Pure formatting; event payloads (free-form by kind) are read tolerantly. No LibTorch.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/messages.h"

namespace trellis::jobview {

// "42s", "3m05s", "1h02m"; "?" for a negative or non-finite value.
std::string format_duration(double seconds);

// The fields of a training metrics payload: "step 40 epoch 1 loss 0.5123 lr 1.00e-03 812.3 samples/s";
// an evaluation "eval step 40 accuracy 0.8125"; a resume "resumed from step 40".
std::string format_metrics(const nlohmann::json& metrics);

// One line for one event, e.g. "#3 2026-11-29T12:00:00.123Z state queued -> leased".
std::string format_event(const protocol::EventMessage& event);

// "40/120 (33%)" from a job's progress, "-" when no total is known yet.
std::string format_progress(const protocol::JobMessage& job);

// A job's artifact, or its error as "code: message", or "".
std::string artifact_or_error(const protocol::JobMessage& job);

// The `jobs` table (header and one row per job), each line ending in '\n'.
std::string format_job_table(const std::vector<protocol::JobMessage>& jobs);

// The `status` view of one job, each line ending in '\n'.
std::string format_job_status(const protocol::JobMessage& job);

// What the live progress bar shows, updated from events as they arrive.
struct Progress {
  std::string state;
  int64_t step = 0, total_steps = 0;
  std::optional<double> epoch, loss, samples_per_s;
  int64_t batch_size = 0;  // from the spec; for the ETA
  void update(const protocol::EventMessage& event);
  // Remaining seconds from samples/s and the batch size, if both are known.
  std::optional<double> eta_seconds() const;
  // "[#########-----------]  40/120  33%  epoch 1  loss 0.5123  812.3 samples/s  ETA 1m05s  running"
  std::string bar(int width = 24) const;
};

}  // namespace trellis::jobview
