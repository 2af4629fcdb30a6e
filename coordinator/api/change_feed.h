#pragma once
// ChangeFeed: long-polls without a thread per waiter. A waiter names a topic ("job/<id>",
// "backbone/<sha256>"), an attempt function and a deadline. The attempt runs at once; while it
// has no answer, it runs again each time someone notifies the topic, and a last time (final =
// true, must answer) at the deadline. Writers call notify(topic) after every change a waiter
// might want.
//
// Thread-safety: wait() and notify() may be called from any thread. Attempts run on the feed's
// executor threads (or on the caller's thread for the first one), never two of one waiter at a
// time. No notification is lost: a notify that lands while an attempt runs makes it run again.
// Lifetime: the feed must outlive the executor's run(); waiters left when it stops are dropped
// (their connections close).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>

#include "coordinator/http/router.h"

namespace trellis::api {

class ChangeFeed {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // An answer, or nullopt to keep waiting. With final = true it must answer.
  using Attempt = std::function<std::optional<http::Response>(bool final)>;

  explicit ChangeFeed(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  void wait(const std::string& topic, Deadline deadline, Attempt attempt, http::Responder done);
  static Deadline deadline_after(double seconds) {
    return std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  }
  void notify(const std::string& topic);
  std::size_t waiting() const;  // waiters currently registered (for /metrics)

 private:
  struct Waiter;
  void run_attempt(const std::shared_ptr<Waiter>& waiter);

  boost::asio::any_io_executor executor_;
  mutable std::mutex mutex_;
  uint64_t version_ = 0;  // bumped by every notify (lost-wakeup check)
  std::unordered_multimap<std::string, std::shared_ptr<Waiter>> waiters_;
};

}  // namespace trellis::api
