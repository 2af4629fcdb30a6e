#include "coordinator/api/change_feed.h"

#include <boost/asio/steady_timer.hpp>

#include "coordinator/http/json_response.h"

namespace trellis::api {

struct ChangeFeed::Waiter {
  Waiter(const boost::asio::any_io_executor& ex, std::string t, Deadline d, Attempt a, http::Responder r)
      : timer(ex), topic(std::move(t)), deadline(d), attempt(std::move(a)), done(std::move(r)) {}
  boost::asio::steady_timer timer;
  std::string topic;
  Deadline deadline;
  Attempt attempt;
  http::Responder done;
  bool registered = false;  // in waiters_ (guarded by the feed's mutex)
};

void ChangeFeed::wait(const std::string& topic, Deadline deadline, Attempt attempt, http::Responder done) {
  auto waiter = std::make_shared<Waiter>(executor_, topic, deadline, std::move(attempt), std::move(done));
  run_attempt(waiter);
}

void ChangeFeed::run_attempt(const std::shared_ptr<Waiter>& waiter) {
  for (;;) {
    uint64_t seen;
    {
      std::lock_guard lock(mutex_);
      seen = version_;
    }
    const bool final = std::chrono::steady_clock::now() >= waiter->deadline;
    std::optional<http::Response> answer;
    try {
      answer = waiter->attempt(final);
    } catch (const std::exception& e) {
      answer = http::error_response(http::beast_http::status::internal_server_error, "internal", e.what());
    }
    if (!answer && final)
      answer = http::error_response(http::beast_http::status::internal_server_error, "internal",
                                    "long-poll without an answer");
    if (answer) return waiter->done(std::move(*answer));
    std::lock_guard lock(mutex_);
    if (version_ != seen) continue;  // something changed while the attempt ran: look again
    waiters_.emplace(waiter->topic, waiter);
    waiter->registered = true;
    waiter->timer.expires_at(waiter->deadline);
    // Wakes at the deadline, or early when notify() cancels the timer.
    waiter->timer.async_wait([this, waiter](const boost::system::error_code&) {
      {
        std::lock_guard lock(mutex_);
        if (waiter->registered) {
          auto [first, last] = waiters_.equal_range(waiter->topic);
          for (auto it = first; it != last; ++it)
            if (it->second == waiter) {
              waiters_.erase(it);
              break;
            }
          waiter->registered = false;
        }
      }
      run_attempt(waiter);
    });
    return;
  }
}

void ChangeFeed::notify(const std::string& topic) {
  std::lock_guard lock(mutex_);
  ++version_;
  auto [first, last] = waiters_.equal_range(topic);
  for (auto it = first; it != last; ++it) {
    it->second->registered = false;
    it->second->timer.cancel();  // its handler runs (operation_aborted) and attempts again
  }
  waiters_.erase(first, last);
}

std::size_t ChangeFeed::waiting() const {
  std::lock_guard lock(mutex_);
  return waiters_.size();
}

}  // namespace trellis::api
