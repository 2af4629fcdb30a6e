#pragma once
// The wire messages (protocol/messages.h) of the store's jobs and events, and RFC 3339 times.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "coordinator/store/job.h"
#include "protocol/messages.h"

namespace trellis::api {

std::string format_time(Time t);  // "2026-11-29T12:00:00.123Z"

// `queue_position`: the job's place in its backbone's queue when queued (else nullopt).
protocol::JobMessage job_message(const Job& job, std::optional<int64_t> queue_position);
protocol::EventMessage event_message(const JobEvent& event);

// Seconds left, from the latest samples/s and the batch size, else from the attempt's pace;
// nullopt when unknown (not running, or no step yet).
std::optional<double> eta_seconds(const Job& job);

}  // namespace trellis::api
