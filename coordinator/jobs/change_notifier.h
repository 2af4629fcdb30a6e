#pragma once
// ChangeNotifier: where the job service announces changes, so that long-polls waiting on a topic
// look again at once (api::ChangeFeed implements it). Topics:
//   job/<id>          the job changed (state, progress, metrics, cancel request)
//   backbone/<sha256> a job for that backbone may now be leased (submitted or queued again)
// Thread-safety: notify() may be called from any thread, with no lock of the caller held that a
// waiter's attempt could need.
#include <string>

namespace trellis::jobs {

inline std::string job_topic(const std::string& job_id) { return "job/" + job_id; }
inline std::string backbone_topic(const std::string& backbone_sha256) { return "backbone/" + backbone_sha256; }

class ChangeNotifier {
 public:
  virtual ~ChangeNotifier() = default;
  virtual void notify(const std::string& topic) = 0;
};

}  // namespace trellis::jobs
