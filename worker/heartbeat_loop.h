#pragma once
// Rank 0's heartbeats for one leased job (coordinator mode): a thread that POSTs
// /v1/jobs/{id}/heartbeat right away, then every `interval` (the coordinator's heartbeat_ms),
// and as soon as new training metrics or an evaluation arrive (coalesced to the latest; at most
// one beat per `min_gap`, counted from the previous beat's answer). Each beat carries {lease_id, step, total_steps,
// metrics}; a periodic beat with nothing new carries empty metrics. A resumed attempt's {"resumed_from_step": K} goes
// out first, in a beat of its own. A "cancel" reply or a lost lease (409) sets cancel_flag(),
// which the group's control callback turns into StepControl::cancel at the next step; after a
// lost lease no further beat is sent. No LibTorch here.
// Thread-safety: report(), set_resumed_from() and the flags may be used from any thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "protocol/coordinator_client.h"

namespace trellis {

class HeartbeatLoop {
 public:
  // `cancel`: the flag to set (e.g. the one WorkerGroupOptions::cancel_requested reads); null:
  // one of its own. Not owned.
  HeartbeatLoop(protocol::CoordinatorClient& client, std::string job_id, std::string lease_id,
                std::chrono::milliseconds interval, std::atomic<bool>* cancel = nullptr,
                std::chrono::milliseconds min_gap = std::chrono::milliseconds(200));
  ~HeartbeatLoop();  // stop()
  HeartbeatLoop(const HeartbeatLoop&) = delete;
  HeartbeatLoop& operator=(const HeartbeatLoop&) = delete;

  // New metrics: {step, epoch, loss, learning_rate, samples_per_s} or {"eval": {...}}. Training
  // metrics and evaluations are coalesced separately (the latest of each is sent; neither hides
  // the other). `urgent` skips the min_gap wait (the first step of an attempt: the coordinator
  // learns at once that the job runs).
  void report(int64_t step, int64_t total_steps, nlohmann::json metrics, bool urgent = false);
  void set_resumed_from(int64_t step);
  // Ends the thread after sending what is still pending (unless the lease is lost). Idempotent.
  void stop();

  const std::atomic<bool>& cancel_flag() const { return *cancel_; }
  bool cancel_requested() const { return cancel_->load(); }
  bool lease_lost() const { return lease_lost_.load(); }
  int64_t beats_sent() const { return beats_.load(); }

 private:
  void run();
  protocol::CoordinatorClient& client_;
  const std::string job_id_, lease_id_;
  const std::chrono::milliseconds interval_, min_gap_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int64_t step_ = 0, total_steps_ = 0;
  std::optional<nlohmann::json> pending_train_, pending_eval_;
  bool urgent_ = false;
  std::optional<int64_t> pending_resumed_;
  std::atomic<bool> own_cancel_{false}, lease_lost_{false};
  std::atomic<bool>* cancel_;
  std::atomic<int64_t> beats_{0};
  std::thread thread_;
};

}  // namespace trellis
