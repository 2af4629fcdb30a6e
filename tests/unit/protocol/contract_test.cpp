// The contract test: the real typed client (protocol/coordinator_client.h) against the real routes,
// job service and store (JobApiFixture), in-process (InProcessTransport: no sockets). Every call of
// the worker protocol and of the job routes is made through the wire types, so the writer and the
// reader of each message are the project's own two sides. Then the fail-count loop: the whole
// worker protocol is stepped through with the Nth request failing once, for every N, either before
// the coordinator sees it or after (the answer is lost), and the job must still end succeeded with
// the artifact the group published (a lost lease answer only after the lease's TTL).
#include <atomic>
#include <fstream>

#include "protocol/coordinator_client.h"
#include "tests/support/in_process_transport.h"
#include "tests/unit/coordinator/api/job_api_fixture.h"

namespace trellis::testing {
namespace {

using namespace trellis::protocol;
using namespace std::chrono_literals;

// Fails the Nth request once: before forwarding it (a request lost on the way) or after (an
// answer lost on the way back). Counts every request.
class FailingTransport : public Transport {
 public:
  enum class Loss { request, answer };
  FailingTransport(std::shared_ptr<Transport> inner, int64_t fail_at, Loss loss)
      : inner_(std::move(inner)), fail_at_(fail_at), loss_(loss) {}
  http::ClientReply send(const TransportRequest& r) override {
    return lossy([&] { return inner_->send(r); });
  }
  http::ClientReply get_to_file(const std::string& t, const std::filesystem::path& f,
                                std::chrono::milliseconds timeout) override {
    return lossy([&] { return inner_->get_to_file(t, f, timeout); });
  }
  std::string name() const override { return inner_->name(); }
  int64_t count() const { return count_; }

 private:
  template <class F>
  http::ClientReply lossy(F&& forward) {
    const bool fail = ++count_ == fail_at_;
    if (fail && loss_ == Loss::request) throw Error(ErrorCode::unavailable, "injected: request lost");
    http::ClientReply reply = forward();
    if (fail) throw Error(ErrorCode::unavailable, "injected: answer lost");
    return reply;
  }

  std::shared_ptr<Transport> inner_;
  int64_t fail_at_;
  Loss loss_;
  std::atomic<int64_t> count_{0};
};

class ContractTest : public JobApiFixture {
 protected:
  CoordinatorClientOptions quick_options() {
    CoordinatorClientOptions o;
    o.timeout = 5s;
    o.report_deadline = 10s;
    o.first_backoff = 1ms;
    return o;
  }
  std::shared_ptr<Transport> routes(const char* token) { return std::make_shared<InProcessTransport>(*router_, token); }
  CoordinatorClient user() { return CoordinatorClient(quick_options(), routes(kUser)); }
  CoordinatorClient worker(std::shared_ptr<Transport> transport = nullptr) {
    return CoordinatorClient(quick_options(), transport ? transport : routes(kWorker));
  }
  SubmitEnvelope envelope(const std::string& task = "sent") {
    SubmitEnvelope e;
    e.spec = spec(task);
    return e;
  }
  GroupRegistration registration() {
    return {.backbone_name = "tiny-bert",
            .backbone_sha256 = kSha,
            .world_size = 2,
            .devices = {"cpu", "cpu"},
            .host = "node-1"};
  }
  static ErrorCode code_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;  // "no error": never what a test expects here
  }
};

TEST_F(ContractTest, EveryCallOfTheWorkerProtocolAndTheJobRoutes) {
  CoordinatorClient users = user();
  CoordinatorClient workers = worker();
  // Submit, read back, list; the same idempotency key gives the same job.
  const SubmitAnswer submitted = users.submit(envelope(), std::string("key-1"));
  EXPECT_TRUE(submitted.created);
  const JobMessage& job = submitted.job;
  EXPECT_EQ(job.state, JobState::queued);
  EXPECT_EQ(job.task, "sent");
  EXPECT_EQ(job.backbone_sha256, kSha);
  EXPECT_EQ(job.queue_position, 0);
  EXPECT_EQ(job.spec["data"]["train"], "file:" + train_id_);
  const SubmitAnswer again = users.submit(envelope(), std::string("key-1"));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.job.id, job.id);
  EXPECT_EQ(users.get_job(job.id), job);
  const JobPage page = users.list_jobs({.limit = 10});
  ASSERT_EQ(page.jobs.size(), 1u);
  EXPECT_EQ(page.jobs[0], job);
  EXPECT_FALSE(page.next);
  EXPECT_EQ(users.list_jobs({.state = JobState::running}).jobs.size(), 0u);

  // Register, lease (nothing for an unknown group), heartbeat, download, complete.
  const auto registered = workers.register_group(registration());
  ASSERT_TRUE(registered);
  EXPECT_TRUE(registered->served);
  EXPECT_EQ(registered->lease_ttl_ms, 30'000);
  LeaseGrant grant;
  EXPECT_EQ(workers.lease("g-" + std::string(32, '0'), 0, grant), LeaseStatus::unknown_group);
  ASSERT_EQ(workers.lease(registered->group_id, 0, grant), LeaseStatus::leased);
  EXPECT_EQ(grant.job.id, job.id);
  EXPECT_EQ(grant.job.state, JobState::leased);
  EXPECT_EQ(grant.job.spec, job.spec);
  const std::string lease_id = grant.lease_id;
  EXPECT_EQ(lease_id, store_->get(job.id).lease_id);
  LeaseGrant nothing;
  EXPECT_EQ(workers.lease(registered->group_id, 0, nothing), LeaseStatus::none);
  EXPECT_EQ(workers.heartbeat(
                job.id, {.lease_id = lease_id, .step = 2, .total_steps = 8, .metrics = {{"step", 2}, {"loss", 0.25}}}),
            HeartbeatOutcome::proceed);
  EXPECT_EQ(workers.heartbeat(job.id, {.lease_id = "l-stale"}), HeartbeatOutcome::lease_lost);
  const JobMessage running = users.get_job(job.id);
  EXPECT_EQ(running.state, JobState::running);
  EXPECT_EQ(running.progress.step, 2);
  EXPECT_EQ(running.progress.total_steps, 8);
  EXPECT_EQ(running.metrics["loss"], 0.25);
  const auto file = dir_ / "downloaded.jsonl";
  workers.download_file(train_id_, file);
  std::ifstream in(file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "{\"text\": \"good\", \"label\": \"pos\"}\n");
  EXPECT_EQ(code_of([&] { workers.download_file(std::string(64, 'f'), dir_ / "missing"); }), ErrorCode::not_found);
  EXPECT_EQ(workers.complete(job.id, {lease_id, "sent@1"}), ReportStatus::conflict);  // not its version
  const std::string artifact = publish_for(job.id);
  EXPECT_EQ(workers.complete(job.id, {lease_id, artifact}), ReportStatus::ok);
  const JobMessage done = users.get_job(job.id);
  EXPECT_EQ(done.state, JobState::succeeded);
  EXPECT_EQ(done.artifact, artifact);
  EXPECT_TRUE(done.finished_at);

  // The events, through the typed page.
  const EventPage events = users.events(job.id, 0, 0);
  EXPECT_EQ(events.state, JobState::succeeded);
  ASSERT_FALSE(events.events.empty());
  EXPECT_EQ(events.events.front().kind, EventKind::state);
  EXPECT_EQ(events.last_seq, events.events.back().seq);
  EXPECT_EQ(users.events(job.id, events.last_seq, 0).events.size(), 0u);

  // Cancel a running job: the next heartbeat says cancel, the group reports cancelled.
  const JobMessage second = users.submit(envelope("other")).job;
  ASSERT_EQ(workers.lease(registered->group_id, 0, grant), LeaseStatus::leased);
  EXPECT_EQ(grant.job.id, second.id);
  EXPECT_TRUE(users.cancel_job(second.id).cancel_requested);
  EXPECT_EQ(workers.heartbeat(second.id, {.lease_id = grant.lease_id}), HeartbeatOutcome::cancel);
  EXPECT_EQ(workers.cancelled(second.id, {grant.lease_id}), ReportStatus::ok);
  EXPECT_EQ(users.get_job(second.id).state, JobState::cancelled);
  EXPECT_EQ(code_of([&] { users.cancel_job(second.id); }), ErrorCode::conflict);

  // Fail: retryable goes back to the queue, final fails; a hand-back keeps the attempts.
  const JobMessage third = users.submit(envelope("third")).job;
  ASSERT_EQ(workers.lease(registered->group_id, 0, grant), LeaseStatus::leased);
  EXPECT_EQ(workers.fail(third.id, {grant.lease_id, {kPreempted, "SIGTERM"}, true}), ReportStatus::ok);
  JobMessage requeued = users.get_job(third.id);
  EXPECT_EQ(requeued.state, JobState::queued);
  EXPECT_EQ(requeued.preemptions, 1);
  ASSERT_EQ(workers.lease(registered->group_id, 0, grant), LeaseStatus::leased);
  EXPECT_EQ(workers.fail(third.id, {grant.lease_id, {"bad_data", "row 3"}, false}), ReportStatus::ok);
  const JobMessage failed = users.get_job(third.id);
  EXPECT_EQ(failed.state, JobState::failed);
  ASSERT_TRUE(failed.error);
  EXPECT_EQ(failed.error->code, "bad_data");

  // Refusals come back as the one error vocabulary.
  EXPECT_EQ(code_of([&] { users.get_job("j-" + std::string(32, '0')); }), ErrorCode::not_found);
  EXPECT_EQ(code_of([&] { users.submit(SubmitEnvelope{.spec = {{"task", "x"}}}); }), ErrorCode::invalid);
  GroupRegistration bad = registration();
  bad.backbone_sha256 = "short";
  EXPECT_EQ(code_of([&] { workers.register_group(bad); }), ErrorCode::internal);  // Fatal: not retried
  EXPECT_EQ(code_of([&] { CoordinatorClient(quick_options(), routes(kWorker)).get_job(job.id); }), ErrorCode::internal)
      << "a worker token may not read jobs (403)";
}

// The worker protocol of one job, as a group's rank 0 makes it; returns the published artifact.
std::string run_one_job(CoordinatorClient& client, const std::function<std::string(const std::string&)>& publish,
                        const std::string& train_id, const std::filesystem::path& dir) {
  GroupRegistration reg{.backbone_name = "tiny-bert", .backbone_sha256 = std::string(64, 'a'), .world_size = 1};
  auto registered = client.register_group(reg);
  EXPECT_TRUE(registered);
  if (!registered) return "";
  LeaseGrant grant;
  for (int tries = 0; client.lease(registered->group_id, 0, grant) != LeaseStatus::leased; ++tries)
    if (tries > 3) return "";
  // A beat that does not get through is retried by the next one.
  if (client.heartbeat(grant.job.id, {.lease_id = grant.lease_id, .step = 1, .total_steps = 2}) ==
      HeartbeatOutcome::unreachable)
    client.heartbeat(grant.job.id, {.lease_id = grant.lease_id, .step = 1, .total_steps = 2});
  client.download_file(train_id, dir / ("train-" + grant.job.id));
  const std::string artifact = publish(grant.job.id);
  client.complete(grant.job.id, {grant.lease_id, artifact});
  return artifact;
}

TEST_F(ContractTest, TheWorkerProtocolSurvivesEachRequestFailingOnce) {
  CoordinatorClient users = user();
  for (auto loss : {FailingTransport::Loss::request, FailingTransport::Loss::answer}) {
    int64_t requests_in_a_clean_run = 0;
    for (int64_t fail_at = 0;; ++fail_at) {  // 0: the clean run that counts the requests
      const JobMessage job = users.submit(envelope()).job;
      auto transport = std::make_shared<FailingTransport>(routes(kWorker), fail_at, loss);
      CoordinatorClient client = worker(transport);
      const std::string where = std::string(loss == FailingTransport::Loss::request ? "request" : "answer") + " " +
                                std::to_string(fail_at) + " lost";
      const std::string artifact = run_one_job(
          client, [this](const std::string& id) { return publish_for(id); }, train_id_, dir_);
      JobMessage after = users.get_job(job.id);
      // A lease whose answer is lost stays granted until its TTL runs out; then the job is queued
      // again and the next lease takes it (attempts + 1). The one request of the protocol that a
      // retry cannot repeat: every other loss is absorbed by the client's retries.
      const bool lease_answer_lost = loss == FailingTransport::Loss::answer && fail_at == 2;
      std::string published = artifact;
      if (lease_answer_lost) {
        EXPECT_EQ(after.state, JobState::leased) << where;
        clock_.advance(31s);
        EXPECT_EQ(jobs_->expire_leases(clock_.now()), std::vector<std::string>{job.id});
        CoordinatorClient clean = worker();
        published = run_one_job(
            clean, [this](const std::string& id) { return publish_for(id); }, train_id_, dir_);
        after = users.get_job(job.id);
        EXPECT_EQ(after.attempts, 1) << where;
      }
      EXPECT_EQ(after.state, JobState::succeeded) << where;
      EXPECT_EQ(after.artifact, published) << where;
      if (!lease_answer_lost) EXPECT_EQ(after.attempts, 0) << where;
      if (fail_at == 0) requests_in_a_clean_run = transport->count();
      // Past the last request nothing fails: one more clean run ends the loop.
      if (fail_at > requests_in_a_clean_run) break;
    }
    EXPECT_GE(requests_in_a_clean_run, 5) << "register, lease, heartbeat, download, complete";
  }
}

}  // namespace
}  // namespace trellis::testing
