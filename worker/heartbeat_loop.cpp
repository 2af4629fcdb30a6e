#include "worker/heartbeat_loop.h"

#include <algorithm>

namespace trellis {

HeartbeatLoop::HeartbeatLoop(protocol::CoordinatorClient& client, std::string job_id, std::string lease_id,
                             std::chrono::milliseconds interval, std::atomic<bool>* cancel,
                             std::chrono::milliseconds min_gap)
    : client_(client),
      job_id_(std::move(job_id)),
      lease_id_(std::move(lease_id)),
      interval_(std::max(interval, std::chrono::milliseconds(1))),
      min_gap_(min_gap),
      cancel_(cancel ? cancel : &own_cancel_) {
  thread_ = std::thread([this] { run(); });
}

HeartbeatLoop::~HeartbeatLoop() { stop(); }

void HeartbeatLoop::report(int64_t step, int64_t total_steps, nlohmann::json metrics, bool urgent) {
  {
    std::lock_guard lock(mutex_);
    step_ = step;
    total_steps_ = total_steps;
    (metrics.contains("eval") ? pending_eval_ : pending_train_) = std::move(metrics);
    urgent_ = urgent_ || urgent;
  }
  wake_.notify_one();
}

void HeartbeatLoop::set_resumed_from(int64_t step) {
  {
    std::lock_guard lock(mutex_);
    pending_resumed_ = step;
  }
  wake_.notify_one();
}

void HeartbeatLoop::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void HeartbeatLoop::run() {
  using clock = std::chrono::steady_clock;
  // The first beat goes out at once. Periodic beats keep their pace from the last send (a slow
  // answer must not stretch the gap between lease renewals); news waits min_gap after the last
  // answer (beats never bunch up behind a slow one).
  auto last_sent = clock::time_point{}, last_answer = clock::time_point{};
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto now = clock::now();
    const bool news = pending_resumed_ || pending_train_ || pending_eval_;
    const auto due = urgent_ ? now : news ? last_answer + min_gap_ : last_sent + interval_;
    if (stopping_ && !news) return;  // news still pending at stop() go out first
    if (!stopping_ && now < due) {
      wake_.wait_until(lock, due);
      continue;  // re-evaluate (news may have arrived, or stop)
    }
    protocol::Heartbeat beat{.lease_id = lease_id_, .step = step_, .total_steps = total_steps_};
    if (pending_resumed_) {
      beat.metrics = {{"resumed_from_step", *pending_resumed_}};
      pending_resumed_.reset();
    } else if (pending_train_) {
      beat.metrics = std::move(*pending_train_);
      pending_train_.reset();
    } else if (pending_eval_) {
      beat.metrics = std::move(*pending_eval_);
      pending_eval_.reset();
    }
    // Urgency belongs to the training metrics (the first step): it ends once they are sent, or
    // when none are pending (an urgent evaluation went out), so the loop never spins.
    if (!pending_train_) urgent_ = false;
    last_sent = now;
    lock.unlock();
    const protocol::HeartbeatOutcome reply = client_.heartbeat(job_id_, beat);
    ++beats_;
    lock.lock();
    last_answer = clock::now();
    if (reply == protocol::HeartbeatOutcome::cancel) cancel_->store(true);
    if (reply == protocol::HeartbeatOutcome::lease_lost) {
      lease_lost_.store(true);
      cancel_->store(true);
      // Nothing more to say for a lease that is gone; wait for stop().
      wake_.wait(lock, [this] { return stopping_; });
      return;
    }
  }
}

}  // namespace trellis
