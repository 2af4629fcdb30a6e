// The same behaviour suite over both JobStore implementations (SQLite and in-memory).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "common/error.h"
#include "tests/unit/coordinator/store/store_test_util.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using test::kShaA;
using test::kShaB;
using test::make_group;
using test::make_request;

struct MemoryFactory {
  static std::unique_ptr<JobStore> make(const std::filesystem::path&, const Clock& clock) {
    return std::make_unique<MemoryJobStore>(clock);
  }
};

struct SqliteFactory {
  static std::unique_ptr<JobStore> make(const std::filesystem::path& dir, const Clock& clock) {
    return std::make_unique<SqliteJobStore>(dir / "jobs.db", clock);
  }
};

template <class Factory>
class JobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Factory::make(dir_.path(), clock_);
    store_->register_group(make_group("g1", kShaA));
  }

  // Submits a job and leases it to g1 (asserting it is the one leased).
  Lease submit_and_lease(SubmitRequest r = make_request(), std::chrono::milliseconds ttl = 10s) {
    auto id = store_->submit(r).job.id;
    auto lease = store_->lease("g1", ttl);
    EXPECT_TRUE(lease.has_value());
    EXPECT_EQ(lease->job.id, id);
    return *lease;
  }

  void expect_error(ErrorCode kind, const std::function<void()>& f) {
    try {
      f();
      ADD_FAILURE() << "expected a Error " << to_string(kind);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), kind) << e.what();
    }
  }

  std::vector<std::string> state_trail(const std::string& job_id) {
    std::vector<std::string> out;
    for (const auto& e : store_->events(job_id, 0, 1000))
      if (e.kind == EventKind::state) out.push_back(e.payload.at("to").get<std::string>());
    return out;
  }

  test::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<JobStore> store_;
};

using Implementations = ::testing::Types<MemoryFactory, SqliteFactory>;
class ImplNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, MemoryFactory> ? "Memory" : "Sqlite";
  }
};
TYPED_TEST_SUITE(JobStoreTest, Implementations, ImplNames);

TYPED_TEST(JobStoreTest, SubmitStoresAQueuedJob) {
  auto r = this->store_->submit(make_request("sst2", 5));
  EXPECT_TRUE(r.created);
  const Job& j = r.job;
  EXPECT_EQ(j.id.size(), 34u);
  EXPECT_EQ(j.id.substr(0, 2), "j-");
  EXPECT_EQ(j.state, JobState::queued);
  EXPECT_EQ(j.attempts, 0);
  EXPECT_EQ(j.priority, 5);
  EXPECT_EQ(j.spec.train.metric, "accuracy");  // canonical spec, defaults filled in
  EXPECT_EQ(j.created_at, this->clock_.now());
  EXPECT_EQ(this->store_->get(j.id), j);
  EXPECT_EQ(this->state_trail(j.id), std::vector<std::string>{"queued"});
}

TYPED_TEST(JobStoreTest, SubmitRejectsBadRequests) {
  auto r = make_request();
  r.backbone_sha256.clear();
  this->expect_error(ErrorCode::invalid, [&] { this->store_->submit(r); });
  r = make_request();
  r.max_attempts = 0;
  this->expect_error(ErrorCode::invalid, [&] { this->store_->submit(r); });
  r = make_request();
  r.spec.train.batch_size = 0;
  this->expect_error(ErrorCode::invalid, [&] { this->store_->submit(r); });
  EXPECT_TRUE(this->store_->list({}).empty());
}

TYPED_TEST(JobStoreTest, UnknownJobIsNotFound) {
  auto& s = *this->store_;
  this->expect_error(ErrorCode::not_found, [&] { s.get("j-nope"); });
  this->expect_error(ErrorCode::not_found, [&] { s.cancel("j-nope"); });
  this->expect_error(ErrorCode::not_found, [&] { s.events("j-nope", 0, 10); });
  this->expect_error(ErrorCode::not_found, [&] { s.queue_position("j-nope"); });
  this->expect_error(ErrorCode::not_found, [&] { s.heartbeat("j-nope", "l-x", 0, 0, nullptr); });
  this->expect_error(ErrorCode::not_found, [&] { s.lease("no-group", 1s); });
}

TYPED_TEST(JobStoreTest, IdempotencyKeyReturnsTheSameJob) {
  auto r = make_request();
  r.idempotency_key = "key-1";
  auto first = this->store_->submit(r);
  auto second = this->store_->submit(r);
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(first.job.id, second.job.id);
  EXPECT_EQ(this->store_->list({}).size(), 1u);
  r.priority = 9;  // same key, another request
  this->expect_error(ErrorCode::conflict, [&] { this->store_->submit(r); });
  r = make_request();
  r.idempotency_key = "key-2";
  EXPECT_NE(this->store_->submit(r).job.id, first.job.id);
}

TYPED_TEST(JobStoreTest, FullLifecycleToSucceeded) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  EXPECT_EQ(l.lease_id.substr(0, 2), "l-");
  EXPECT_EQ(l.job.state, JobState::leased);
  EXPECT_EQ(l.job.lease_group_id, "g1");
  this->clock_.advance(1s);
  EXPECT_EQ(s.heartbeat(l.job.id, l.lease_id, 10, 100, {{"loss", 0.5}}), HeartbeatAction::proceed);
  Job j = s.get(l.job.id);
  EXPECT_EQ(j.state, JobState::running);
  EXPECT_EQ(j.started_at, this->clock_.now());
  EXPECT_EQ(j.step, 10);
  EXPECT_EQ(j.total_steps, 100);
  EXPECT_EQ(j.metrics.at("loss"), 0.5);
  EXPECT_EQ(j.lease_expires_at, this->clock_.now() + 10s);  // renewed
  j = s.complete(l.job.id, l.lease_id, "sst2@1");
  EXPECT_EQ(j.state, JobState::succeeded);
  EXPECT_EQ(j.artifact_ref, "sst2@1");
  EXPECT_EQ(j.finished_at, this->clock_.now());
  EXPECT_TRUE(j.lease_id.empty());
  EXPECT_EQ(s.get(j.id), j);
  EXPECT_EQ(this->state_trail(j.id), (std::vector<std::string>{"queued", "leased", "running", "succeeded"}));
}

TYPED_TEST(JobStoreTest, CompleteFromLeasedIsAllowed) {
  Lease l = this->submit_and_lease();
  EXPECT_EQ(this->store_->complete(l.job.id, l.lease_id, "sst2@1").state, JobState::succeeded);
}

TYPED_TEST(JobStoreTest, TerminalStatesAreFinal) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  s.complete(l.job.id, l.lease_id, "sst2@1");
  this->expect_error(ErrorCode::conflict, [&] { s.heartbeat(l.job.id, l.lease_id, 1, 1, nullptr); });
  this->expect_error(ErrorCode::conflict, [&] { s.complete(l.job.id, l.lease_id, "sst2@2"); });
  this->expect_error(ErrorCode::conflict, [&] { s.fail(l.job.id, l.lease_id, {"x", "y"}, true); });
  this->expect_error(ErrorCode::conflict, [&] { s.cancelled(l.job.id, l.lease_id); });
  this->expect_error(ErrorCode::conflict, [&] { s.cancel(l.job.id); });
  EXPECT_FALSE(s.lease("g1", 1s).has_value());  // not re-leased
  EXPECT_EQ(s.get(l.job.id).state, JobState::succeeded);
}

TYPED_TEST(JobStoreTest, WorkerCallsOnAQueuedJobAreConflicts) {
  auto& s = *this->store_;
  auto id = s.submit(make_request()).job.id;
  this->expect_error(ErrorCode::conflict, [&] { s.heartbeat(id, "l-x", 1, 1, nullptr); });
  this->expect_error(ErrorCode::conflict, [&] { s.complete(id, "l-x", "a@1"); });
  this->expect_error(ErrorCode::conflict, [&] { s.fail(id, "l-x", {"x", "y"}, true); });
  this->expect_error(ErrorCode::conflict, [&] { s.cancelled(id, "l-x"); });
  EXPECT_EQ(s.get(id).state, JobState::queued);
}

TYPED_TEST(JobStoreTest, WrongLeaseIdIsAConflict) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  this->expect_error(ErrorCode::conflict, [&] { s.heartbeat(l.job.id, "l-other", 1, 1, nullptr); });
  this->expect_error(ErrorCode::conflict, [&] { s.complete(l.job.id, "l-other", "a@1"); });
  EXPECT_EQ(s.get(l.job.id).state, JobState::leased);
}

TYPED_TEST(JobStoreTest, RetryableFailRequeuesUntilMaxAttempts) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease(make_request("sst2", 0, kShaA, 2));
  Job j = s.fail(l.job.id, l.lease_id, {"oom", "Out of memory."}, true);
  EXPECT_EQ(j.state, JobState::queued);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(j.error, (JobError{"oom", "Out of memory."}));
  EXPECT_TRUE(j.lease_id.empty());
  auto l2 = s.lease("g1", 10s);
  ASSERT_TRUE(l2);
  EXPECT_NE(l2->lease_id, l.lease_id);
  j = s.fail(l2->job.id, l2->lease_id, {"oom2", "Out of memory again."}, true);
  EXPECT_EQ(j.state, JobState::failed);
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.error->code, "oom2");
  EXPECT_TRUE(j.finished_at.has_value());
}

TYPED_TEST(JobStoreTest, NonRetryableFailFailsAtOnce) {
  Lease l = this->submit_and_lease();
  Job j = this->store_->fail(l.job.id, l.lease_id, {"bad_data", "Column 'text' is missing."}, false);
  EXPECT_EQ(j.state, JobState::failed);
  EXPECT_EQ(j.attempts, 1);
  auto ev = this->store_->events(j.id, 0, 100);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[ev.size() - 2].kind, EventKind::error);
  EXPECT_EQ(ev[ev.size() - 2].payload.at("code"), "bad_data");
}

// Hand-backs (retryable "preempted") are counted apart and never use up max_attempts; the same
// code sent as not retryable is a failure like any other.
TYPED_TEST(JobStoreTest, PreemptionsDoNotUseUpAttempts) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease(make_request("sst2", 0, kShaA, 1));
  for (int i = 1; i <= 3; ++i) {
    Job j = s.fail(l.job.id, l.lease_id, {kPreempted, "SIGTERM at step " + std::to_string(10 * i)}, true);
    EXPECT_EQ(j.state, JobState::queued);
    EXPECT_EQ(j.attempts, i);
    EXPECT_EQ(j.preemptions, i);
    EXPECT_EQ(j.failures(), 0);
    EXPECT_EQ(s.get(j.id), j);  // stored as returned
    auto next = s.lease("g1", 10s);
    ASSERT_TRUE(next);
    l = *next;
  }
  const auto ev = s.events(l.job.id, 0, 100);
  const auto last_error =
      std::find_if(ev.rbegin(), ev.rend(), [](const JobEvent& e) { return e.kind == EventKind::error; });
  ASSERT_NE(last_error, ev.rend());
  EXPECT_EQ(last_error->payload.at("preemptions"), 3);
  // The one real failure max_attempts = 1 allows ends the job.
  Job j = s.fail(l.job.id, l.lease_id, {"oom", "Out of memory."}, true);
  EXPECT_EQ(j.state, JobState::failed);
  EXPECT_EQ((std::pair{j.attempts, j.preemptions}), (std::pair{4, 3}));

  Lease other = this->submit_and_lease(make_request("sst2-b", 0, kShaA, 1));
  j = s.fail(other.job.id, other.lease_id, {kPreempted, "not retryable"}, false);
  EXPECT_EQ(j.state, JobState::failed);
  EXPECT_EQ(j.preemptions, 0);
}

// live_jobs: every queued, leased and running job (queued first), across pages of 1000.
TYPED_TEST(JobStoreTest, LiveJobsAreEveryQueuedLeasedAndRunningJob) {
  auto& s = *this->store_;
  const Lease leased = this->submit_and_lease(make_request("a"));
  const Lease running = this->submit_and_lease(make_request("b"));
  ASSERT_EQ(s.heartbeat(running.job.id, running.lease_id, 1, 10, nullptr), HeartbeatAction::proceed);
  const Lease done = this->submit_and_lease(make_request("c"));
  s.complete(done.job.id, done.lease_id, "c@1");
  s.cancel(s.submit(make_request("d")).job.id);
  std::vector<std::string> queued;
  for (int i = 0; i < 1003; ++i) queued.push_back(s.submit(make_request("q" + std::to_string(i))).job.id);
  const std::vector<Job> live = s.live_jobs();
  ASSERT_EQ(live.size(), 1005u);
  for (size_t i = 0; i < queued.size(); ++i) ASSERT_EQ(live[i].id, queued[i]) << i;
  EXPECT_EQ(live[1003].id, leased.job.id);
  EXPECT_EQ(live[1004].id, running.job.id);
  EXPECT_EQ(live[1004].state, JobState::running);
}

TYPED_TEST(JobStoreTest, PriorityThenSubmissionOrder) {
  auto& s = *this->store_;
  auto low1 = s.submit(make_request("a", 0)).job.id;
  this->clock_.advance(1ms);
  auto high = s.submit(make_request("b", 5)).job.id;
  auto low2 = s.submit(make_request("c", 0)).job.id;  // same time as high: submission order counts
  auto mid = s.submit(make_request("d", 1)).job.id;
  EXPECT_EQ(s.queue_position(high), 0);
  EXPECT_EQ(s.queue_position(mid), 1);
  EXPECT_EQ(s.queue_position(low1), 2);
  EXPECT_EQ(s.queue_position(low2), 3);
  EXPECT_EQ(s.queue_position(low2, 2), 2);  // counting stops at the cap
  std::vector<std::string> order;
  while (auto l = s.lease("g1", 10s)) order.push_back(l->job.id);
  EXPECT_EQ(order, (std::vector<std::string>{high, mid, low1, low2}));
  EXPECT_EQ(s.queue_position(high), std::nullopt);
}

TYPED_TEST(JobStoreTest, OnlyMatchingBackboneIsLeased) {
  auto& s = *this->store_;
  auto b_job = s.submit(make_request("b", 10, kShaB)).job.id;
  auto a_job = s.submit(make_request("a", 0, kShaA)).job.id;
  EXPECT_EQ(s.queue_position(a_job), 0);  // positions are per backbone
  EXPECT_EQ(s.queue_position(b_job), 0);
  auto l = s.lease("g1", 10s);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->job.id, a_job);
  EXPECT_FALSE(s.lease("g1", 10s).has_value());
  s.register_group(make_group("g2", kShaB));
  auto l2 = s.lease("g2", 10s);
  ASSERT_TRUE(l2);
  EXPECT_EQ(l2->job.id, b_job);
}

TYPED_TEST(JobStoreTest, ExpiredLeaseRequeuesWithAttemptPlusOne) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease(make_request(), 5s);
  s.heartbeat(l.job.id, l.lease_id, 3, 10, nullptr);
  this->clock_.advance(4s);
  EXPECT_TRUE(s.expire_leases(this->clock_.now()).empty());
  this->clock_.advance(1s);
  EXPECT_EQ(s.expire_leases(this->clock_.now()), std::vector<std::string>{l.job.id});
  Job j = s.get(l.job.id);
  EXPECT_EQ(j.state, JobState::queued);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(j.error->code, "lease_expired");
  EXPECT_EQ(j.step, 3);  // progress kept: the next attempt resumes from its checkpoint
  EXPECT_TRUE(j.lease_id.empty());
  EXPECT_EQ(this->state_trail(j.id), (std::vector<std::string>{"queued", "leased", "running", "queued"}));
}

TYPED_TEST(JobStoreTest, ExpiryPastMaxAttemptsFailsWithTheLastError) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease(make_request("sst2", 0, kShaA, 2), 1s);
  s.fail(l.job.id, l.lease_id, {"nccl", "NCCL timeout."}, true);
  auto l2 = s.lease("g1", 1s);
  ASSERT_TRUE(l2);
  this->clock_.advance(2s);
  s.expire_leases(this->clock_.now());
  Job j = s.get(l.job.id);
  EXPECT_EQ(j.state, JobState::failed);
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.error->code, "lease_expired");
  EXPECT_TRUE(j.finished_at.has_value());
}

TYPED_TEST(JobStoreTest, StaleLeaseIsRefusedAfterExpiryAndRelease) {
  auto& s = *this->store_;
  Lease old = this->submit_and_lease(make_request(), 1s);
  this->clock_.advance(1s);
  // Expired but not yet swept: refused already.
  this->expect_error(ErrorCode::conflict, [&] { s.heartbeat(old.job.id, old.lease_id, 1, 1, nullptr); });
  s.expire_leases(this->clock_.now());
  auto fresh = s.lease("g1", 10s);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->job.id, old.job.id);
  this->expect_error(ErrorCode::conflict, [&] { s.heartbeat(old.job.id, old.lease_id, 1, 1, nullptr); });
  this->expect_error(ErrorCode::conflict, [&] { s.complete(old.job.id, old.lease_id, "a@1"); });
  this->expect_error(ErrorCode::conflict, [&] { s.fail(old.job.id, old.lease_id, {"x", "y"}, false); });
  EXPECT_EQ(s.heartbeat(fresh->job.id, fresh->lease_id, 1, 1, nullptr), HeartbeatAction::proceed);
  EXPECT_EQ(s.complete(fresh->job.id, fresh->lease_id, "sst2@1").state, JobState::succeeded);
}

TYPED_TEST(JobStoreTest, CancelQueuedIsImmediate) {
  auto& s = *this->store_;
  auto id = s.submit(make_request()).job.id;
  Job j = s.cancel(id);
  EXPECT_EQ(j.state, JobState::cancelled);
  EXPECT_TRUE(j.finished_at.has_value());
  EXPECT_FALSE(s.lease("g1", 1s).has_value());
  this->expect_error(ErrorCode::conflict, [&] { s.cancel(id); });
}

TYPED_TEST(JobStoreTest, CancelRunningGoesThroughHeartbeat) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  s.heartbeat(l.job.id, l.lease_id, 1, 10, nullptr);
  this->expect_error(ErrorCode::conflict, [&] { s.cancelled(l.job.id, l.lease_id); });  // not asked
  Job j = s.cancel(l.job.id);
  EXPECT_EQ(j.state, JobState::running);
  EXPECT_TRUE(j.cancel_requested);
  auto n_events = s.events(j.id, 0, 1000).size();
  s.cancel(l.job.id);  // idempotent: no new event
  EXPECT_EQ(s.events(j.id, 0, 1000).size(), n_events);
  EXPECT_EQ(s.heartbeat(l.job.id, l.lease_id, 2, 10, nullptr), HeartbeatAction::cancel);
  j = s.cancelled(l.job.id, l.lease_id);
  EXPECT_EQ(j.state, JobState::cancelled);
  EXPECT_TRUE(j.artifact_ref.empty());
  this->expect_error(ErrorCode::conflict, [&] { s.cancel(l.job.id); });
}

TYPED_TEST(JobStoreTest, CancelLeasedThenFailBecomesCancelled) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  EXPECT_TRUE(s.cancel(l.job.id).cancel_requested);
  Job j = s.fail(l.job.id, l.lease_id, {"cancelled", "Stopped at a step boundary."}, true);
  EXPECT_EQ(j.state, JobState::cancelled);
  EXPECT_FALSE(s.lease("g1", 1s).has_value());
}

TYPED_TEST(JobStoreTest, CancelRequestedThenExpiryBecomesCancelled) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease(make_request(), 1s);
  s.cancel(l.job.id);
  this->clock_.advance(1s);
  s.expire_leases(this->clock_.now());
  EXPECT_EQ(s.get(l.job.id).state, JobState::cancelled);
}

TYPED_TEST(JobStoreTest, CancelTerminalIsAConflict) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  s.fail(l.job.id, l.lease_id, {"x", "y"}, false);
  this->expect_error(ErrorCode::conflict, [&] { s.cancel(l.job.id); });
}

TYPED_TEST(JobStoreTest, EventsAreSequencedAndPaged) {
  auto& s = *this->store_;
  Lease l = this->submit_and_lease();
  for (int step = 1; step <= 5; ++step) {
    this->clock_.advance(10ms);
    s.heartbeat(l.job.id, l.lease_id, step, 5, {{"loss", 1.0 / step}});
  }
  s.heartbeat(l.job.id, l.lease_id, 5, 5, nullptr);  // nothing new: no event
  s.complete(l.job.id, l.lease_id, "sst2@1");
  auto all = s.events(l.job.id, 0, 1000);
  // queued, leased, running, 5 x (progress, metrics), succeeded
  ASSERT_EQ(all.size(), 14u);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ(all[i].job_id, l.job.id);
    if (i > 0) {
      EXPECT_GE(all[i].time, all[i - 1].time);
    }
  }
  EXPECT_EQ(all[3].kind, EventKind::progress);
  EXPECT_EQ(all[3].payload.at("step"), 1);
  EXPECT_EQ(all[4].kind, EventKind::metrics);
  EXPECT_EQ(all[4].payload.at("metrics").at("loss"), 1.0);
  auto page = s.events(l.job.id, 5, 3);
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0].seq, 6);
  EXPECT_EQ(page[2].seq, 8);
  EXPECT_TRUE(s.events(l.job.id, 14, 10).empty());
  this->expect_error(ErrorCode::invalid, [&] { s.events(l.job.id, 0, 0); });
  this->expect_error(ErrorCode::invalid, [&] { s.heartbeat(l.job.id, l.lease_id, 1, 1, nlohmann::json::array()); });
}

TYPED_TEST(JobStoreTest, ListFiltersAndPages) {
  auto& s = *this->store_;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(s.submit(make_request(i % 2 ? "odd" : "even")).job.id);
  s.cancel(ids[0]);
  auto all = s.list({});
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(all[i].id, ids[i]);
  ListQuery q;
  q.task = "even";
  EXPECT_EQ(s.list(q).size(), 3u);
  q.state = JobState::queued;
  EXPECT_EQ(s.list(q).size(), 2u);
  ListQuery page;
  page.limit = 2;
  auto p1 = s.list(page);
  ASSERT_EQ(p1.size(), 2u);
  page.after = p1.back().id;
  auto p2 = s.list(page);
  ASSERT_EQ(p2.size(), 2u);
  EXPECT_EQ(p2[0].id, ids[2]);
  page.after = "j-unknown";
  this->expect_error(ErrorCode::invalid, [&] { s.list(page); });
  ListQuery bad;
  bad.limit = 0;
  this->expect_error(ErrorCode::invalid, [&] { s.list(bad); });
}

TYPED_TEST(JobStoreTest, GroupsAreRegisteredAndSeen) {
  auto& s = *this->store_;
  this->clock_.advance(5s);
  s.submit(make_request());
  auto l = s.lease("g1", 10s);
  ASSERT_TRUE(l);
  EXPECT_EQ(s.get_group("g1").last_seen, this->clock_.now());
  this->clock_.advance(1s);
  s.heartbeat(l->job.id, l->lease_id, 1, 1, nullptr);
  Group g = s.get_group("g1");
  EXPECT_EQ(g.last_seen, this->clock_.now());
  EXPECT_EQ(g.world_size, 2);
  EXPECT_EQ(g.host, "host-1");
  Group bad = make_group("g3");
  bad.world_size = 0;
  this->expect_error(ErrorCode::invalid, [&] { s.register_group(bad); });
  this->expect_error(ErrorCode::not_found, [&] { s.get_group("nope"); });
}

TYPED_TEST(JobStoreTest, GroupKeepsItsSlurmJobId) {
  auto& s = *this->store_;
  Group g = make_group("g2");
  g.slurm_job_id = "4242";
  EXPECT_EQ(s.register_group(g).slurm_job_id, "4242");
  EXPECT_EQ(s.get_group("g2").slurm_job_id, "4242");
  EXPECT_FALSE(s.get_group("g2").ended_at);
  EXPECT_EQ(s.get_group("g1").slurm_job_id, "");
  g.slurm_job_id = std::string(65, '1');
  this->expect_error(ErrorCode::invalid, [&] { s.register_group(g); });
}

TYPED_TEST(JobStoreTest, ReleaseGroupRequeuesItsLeasesAtOnce) {
  auto& s = *this->store_;
  s.register_group(make_group("g2"));
  Lease mine = this->submit_and_lease(make_request("mine"), 60s);
  s.heartbeat(mine.job.id, mine.lease_id, 3, 10, nullptr);
  const std::string other_id = s.submit(make_request("other")).job.id;
  auto other = s.lease("g2", 60s);
  ASSERT_TRUE(other);
  const std::string queued_id = s.submit(make_request("queued")).job.id;
  this->clock_.advance(1s);  // long before the lease expires
  const JobError error{"group_ended", "The Slurm job 4242 ended."};
  EXPECT_EQ(s.release_group("g1", error), std::vector<std::string>{mine.job.id});
  Job job = s.get(mine.job.id);
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(job.error, error);
  EXPECT_TRUE(job.lease_id.empty());
  EXPECT_TRUE(job.lease_group_id.empty());
  EXPECT_EQ(this->state_trail(mine.job.id), (std::vector<std::string>{"queued", "leased", "running", "queued"}));
  const auto events = s.events(mine.job.id, 0, 1000);
  auto err = std::find_if(events.begin(), events.end(), [](const JobEvent& e) { return e.kind == EventKind::error; });
  ASSERT_NE(err, events.end());
  EXPECT_EQ(err->payload.at("code"), "group_ended");
  EXPECT_EQ(events.back().payload.at("reason"), "group_ended");
  // The old lease is gone; the other group's lease is untouched.
  this->expect_error(ErrorCode::conflict, [&] { s.heartbeat(mine.job.id, mine.lease_id, 4, 10, nullptr); });
  EXPECT_EQ(s.get(other_id).state, JobState::leased);
  EXPECT_EQ(s.get(queued_id).state, JobState::queued);
  // The group is ended: it cannot lease until it registers again; releasing again is a no-op.
  EXPECT_EQ(s.get_group("g1").ended_at, to_millis(this->clock_.now()));
  this->expect_error(ErrorCode::not_found, [&] { s.lease("g1", 10s); });
  EXPECT_TRUE(s.release_group("g1", error).empty());
  s.register_group(make_group("g1"));
  EXPECT_FALSE(s.get_group("g1").ended_at);
  auto again = s.lease("g1", 10s);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->job.id, mine.job.id);  // first in the queue again
  this->expect_error(ErrorCode::not_found, [&] { s.release_group("nope", error); });
  this->expect_error(ErrorCode::invalid, [&] { s.release_group("g1", JobError{"", "x"}); });
}

TYPED_TEST(JobStoreTest, ReleaseGroupFollowsTheExpiryRules) {
  auto& s = *this->store_;
  const JobError error{"group_ended", "gone"};
  Lease last = this->submit_and_lease(make_request("last", 0, kShaA, 1));
  s.release_group("g1", error);
  EXPECT_EQ(s.get(last.job.id).state, JobState::failed);  // no attempt left
  EXPECT_EQ(s.get(last.job.id).error->code, "group_ended");
  s.register_group(make_group("g1"));
  Lease cancelling = this->submit_and_lease(make_request("cancelling"));
  s.cancel(cancelling.job.id);
  s.release_group("g1", error);
  EXPECT_EQ(s.get(cancelling.job.id).state, JobState::cancelled);
}

TYPED_TEST(JobStoreTest, LaunchedJobsAreRecorded) {
  auto& s = *this->store_;
  EXPECT_TRUE(s.launched_jobs().empty());
  LaunchedJob a{"101", "all-MiniLM-L6-v2", kShaA, LaunchState::pending, this->clock_.now(), std::nullopt, std::nullopt};
  LaunchedJob b{"102", "tiny", kShaB, LaunchState::pending, this->clock_.now(), std::nullopt, std::nullopt};
  s.record_launch(a);
  s.record_launch(b);
  EXPECT_EQ(s.launched_jobs(), (std::vector<LaunchedJob>{a, b}));
  a.state = LaunchState::running;
  a.cancel_requested_at = this->clock_.now() + 5s;
  s.record_launch(a);
  b.state = LaunchState::ended;
  b.ended_at = this->clock_.now() + 7s;
  s.record_launch(b);
  EXPECT_EQ(s.launched_jobs(), std::vector<LaunchedJob>{a});
  EXPECT_EQ(s.launched_jobs(true), (std::vector<LaunchedJob>{a, b}));
  LaunchedJob bad = a;
  bad.slurm_job_id = "";
  this->expect_error(ErrorCode::invalid, [&] { s.record_launch(bad); });
}

TYPED_TEST(JobStoreTest, LauncherSnapshotCountsQueuesGroupsAndLeases) {
  auto& s = *this->store_;
  auto other = make_request("b", 0, kShaB);
  other.spec.backbone = "tiny-bert";
  s.submit(other);
  s.submit(make_request("a1"));
  Lease l = this->submit_and_lease(make_request("a2", 5), 60s);  // a2 goes first (priority)
  s.submit(make_request("a3"));
  Group g2 = make_group("g2", kShaB);
  g2.slurm_job_id = "77";
  s.register_group(g2);
  s.register_group(make_group("g3"));
  s.release_group("g3", JobError{"group_ended", "gone"});
  s.record_launch(LaunchedJob{"77", "tiny-bert", kShaB, LaunchState::running, this->clock_.now(), {}, {}});
  LauncherSnapshot snap = s.launcher_snapshot(Time{});
  ASSERT_EQ(snap.queued.size(), 2u);
  EXPECT_EQ(snap.queued.at(kShaA).queued, 2);
  EXPECT_EQ(snap.queued.at(kShaA).backbone_name, "all-MiniLM-L6-v2");
  EXPECT_EQ(snap.queued.at(kShaB).queued, 1);
  EXPECT_EQ(snap.queued.at(kShaB).backbone_name, "tiny-bert");
  ASSERT_EQ(snap.groups.size(), 2u);  // g3 ended
  EXPECT_EQ(snap.groups[0].group.id, "g1");
  EXPECT_EQ(snap.groups[0].live_leases, 1);
  EXPECT_EQ(snap.groups[1].group.id, "g2");
  EXPECT_EQ(snap.groups[1].group.slurm_job_id, "77");
  EXPECT_EQ(snap.groups[1].live_leases, 0);
  ASSERT_EQ(snap.launches.size(), 1u);
  EXPECT_EQ(snap.launches[0].slurm_job_id, "77");
  // Groups not seen since the cut-off are left out.
  this->clock_.advance(10s);
  s.heartbeat(l.job.id, l.lease_id, 1, 2, nullptr);
  snap = s.launcher_snapshot(this->clock_.now() - 1s);
  ASSERT_EQ(snap.groups.size(), 1u);
  EXPECT_EQ(snap.groups[0].group.id, "g1");
}

}  // namespace
}  // namespace trellis

namespace trellis {
namespace {

// Group commit: concurrent submits (some sharing idempotency keys, some invalid) each get their
// own answer; keys map to one job each; submission numbers stay unique and dense.
TYPED_TEST(JobStoreTest, ConcurrentSubmitsAreGroupCommittedCorrectly) {
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::atomic<int> conflicts{0}, invalid{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto r = make_request("t" + std::to_string(t));
        if (i % 5 == 0) r.idempotency_key = "shared-" + std::to_string(i);  // same key in every thread
        if (i % 7 == 3) r.spec.train.batch_size = 0;                        // invalid
        if (i % 5 == 0) r.spec.task = "shared";
        try {
          ids[t].push_back(this->store_->submit(r).job.id);
        } catch (const Error& e) {
          (e.code() == ErrorCode::invalid ? invalid : conflicts)++;
        }
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(conflicts.load(), 0);
  int expected_invalid = 0;
  for (int i = 0; i < kEach; ++i) expected_invalid += i % 7 == 3;
  EXPECT_EQ(invalid.load(), kThreads * expected_invalid);
  // Every thread got the same job for each shared key.
  for (int t = 1; t < kThreads; ++t) {
    std::vector<std::string> a, b;
    for (const auto& id : ids[0])
      if (this->store_->get(id).idempotency_key) a.push_back(id);
    for (const auto& id : ids[t])
      if (this->store_->get(id).idempotency_key) b.push_back(id);
    EXPECT_EQ(a, b);
  }
  ListQuery q;
  q.limit = 1000;
  const auto jobs = this->store_->list(q);
  std::set<std::string> distinct;
  for (const auto& v : ids) distinct.insert(v.begin(), v.end());
  EXPECT_EQ(jobs.size(), distinct.size());
  for (size_t i = 0; i < jobs.size(); ++i) EXPECT_EQ(jobs[i].submit_seq, static_cast<int64_t>(i + 1));
}

}  // namespace
}  // namespace trellis
