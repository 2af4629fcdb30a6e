#include "worker/coordinator_mode.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "protocol/token_file.h"
#include "registry/artifact_registry.h"
#include "trainer/spec/job_spec.h"
#include "trainer/train/trainer.h"
#include "common/error.h"
#include "protocol/coordinator_client.h"
#include "worker/coordinator_jobs.h"
#include "worker/disk_retention.h"
#include "worker/heartbeat_loop.h"
#include "worker/mpi/mpi_communicator.h"

namespace trellis {

using protocol::CoordinatorClient;
using protocol::CoordinatorClientOptions;
using protocol::LeaseStatus;
using protocol::ReportStatus;

struct CoordinatorSession::State {
  const WorkerOptions& options;
  int rank, world;
  const std::atomic<bool>& stop;
  std::unique_ptr<CoordinatorClient> client;  // rank 0
  std::atomic<bool> cancel{false};           // the group's cancel_requested (rank 0)
  // The job in flight (rank 0; the MPI thread sets and reads them, the hooks run on it too).
  std::unique_ptr<HeartbeatLoop> heartbeat;
  std::string job_id, lease_id, metric;
  bool may_have_resumed = false, first_report = true;
  int64_t total_steps = 0;

  State(const WorkerOptions& o, int r, int w, const std::atomic<bool>& s) : options(o), rank(r), world(w), stop(s) {}
  void log(const std::string& line) const {
    std::fprintf(stderr, "trellis-worker: %s\n", line.c_str());
    std::fflush(stderr);
  }
};

CoordinatorSession::CoordinatorSession(const WorkerOptions& options, int rank, int world,
                                       const std::atomic<bool>& stop_requested)
    : state_(std::make_unique<State>(options, rank, world, stop_requested)) {
  if (rank != 0) return;
  CoordinatorClientOptions client_options;
  client_options.server = options.coordinator;
  client_options.token = http::read_token_file(options.token_file);
  client_options.should_stop = [s = state_.get()] { return s->stop.load(); };
  client_options.log = [s = state_.get()](const std::string& line) { s->log("coordinator: " + line); };
  state_->client = std::make_unique<CoordinatorClient>(std::move(client_options));
}

CoordinatorSession::~CoordinatorSession() = default;

void CoordinatorSession::install(WorkerGroupOptions& group_options) {
  if (state_->rank != 0) return;
  State* s = state_.get();
  group_options.cancel_requested = &s->cancel;
  group_options.on_step_report = [s](const StepReport& r) {
    s->total_steps = r.total_steps;
    if (!s->heartbeat) return;
    // A resumed attempt's first step is the checkpoint's step + 1.
    if (s->first_report && s->may_have_resumed && r.step > 1) s->heartbeat->set_resumed_from(r.step - 1);
    const bool first = s->first_report;
    s->first_report = false;
    s->heartbeat->report(r.step, r.total_steps,
                         {{"step", r.step}, {"epoch", r.epoch}, {"loss", r.loss}, {"learning_rate", r.learning_rate},
                          {"samples_per_s", r.samples_per_s}},
                         first);
  };
  group_options.on_eval_report = [s](const EvalReport& r) {
    if (!s->heartbeat) return;
    nlohmann::json eval = {{"step", r.step}, {"epoch", r.epoch}, {"best", r.best}, {"metrics", r.metrics}};
    if (auto it = r.metrics.find(s->metric); it != r.metrics.end()) {
      eval["metric"] = s->metric;
      eval["value"] = it->second;
    }
    s->heartbeat->report(r.step, s->total_steps, {{"eval", eval}});
  };
}

void CoordinatorSession::report_group_error(const std::string& error) {
  State* s = state_.get();
  if (s->rank != 0 || !s->client || s->job_id.empty()) return;
  if (s->heartbeat) {
    s->heartbeat->stop();
    if (s->heartbeat->lease_lost()) return;
  }
  s->client->fail(s->job_id, {.lease_id = s->lease_id, .error = {"group_error", error}, .retryable = true});
}

std::string only_backbone(const std::string& config_dir) {
  std::error_code ec;
  std::string found;
  int n = 0;
  for (std::filesystem::directory_iterator it(std::filesystem::path(config_dir) / "backbones", ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->path().extension() != ".json") continue;
    found = it->path().stem().string();
    ++n;
  }
  return n == 1 ? found : "";
}

int CoordinatorSession::run(
    WorkerGroup& group, MpiCommunicator& comm, const std::string& backbone_name, const std::string& backbone_sha256,
    ArtifactRegistry* registry, std::chrono::milliseconds job_timeout,
    const std::function<void(const std::string&, const JobOutcome&, const std::string&)>& print) {
  State& s = *state_;
  std::optional<protocol::GroupRegistered> registration;
  protocol::GroupRegistration register_body;
  CoordinatorJobOptions job_options;
  if (s.rank == 0) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    register_body = {.backbone_name = backbone_name,
                     .backbone_sha256 = backbone_sha256,
                     .world_size = s.world,
                     .devices = std::vector<std::string>(s.world, s.options.device),
                     .host = std::string(host),
                     .slurm_job_id = s.options.slurm_job_id};  // lets a launching coordinator tie us to it
    job_options.checkpoint_dir = s.options.checkpoint_dir;
    if (const int swept = sweep_dead_workers_staging(); swept > 0 && !s.options.quiet)
      s.log("removed " + std::to_string(swept) + " staging director" + (swept == 1 ? "y" : "ies") +
            " left by worker processes that are gone");
    job_options.data_cache = s.options.data_cache;
    job_options.backbone = backbone_name;
  }
  bool interrupted = false;
  // Idle groups trim the data cache and stale checkpoints at most hourly (disk_retention.h).
  const auto cache_retention = std::chrono::milliseconds(
      static_cast<int64_t>(s.options.data_cache_retention_days * 86400.0 * 1000.0));
  auto next_trim = std::chrono::steady_clock::now();
  for (;;) {
    GroupMessage message;
    std::string lease_id;
    int64_t attempt = 0;
    if (s.rank == 0) {
      while (!interrupted && !s.stop.load()) {
        if (!registration) {
          registration = s.client->register_group(register_body);
          if (!registration) break;  // stop requested
          register_body.group_id = registration->group_id;  // a later re-registration keeps the id
          if (!s.options.quiet)
            s.log("registered as group " + registration->group_id + " with " + s.client->server());
        }
        if (cache_retention.count() > 0 && std::chrono::steady_clock::now() >= next_trim) {
          next_trim = std::chrono::steady_clock::now() + std::chrono::hours(1);
          const DataCacheTrim trimmed = trim_data_cache(data_cache_dir(job_options), cache_retention);
          if (trimmed.files_removed > 0 && !s.options.quiet)
            s.log("data cache: removed " + std::to_string(trimmed.files_removed) + " file(s) (" +
                  std::to_string(trimmed.bytes_removed) + " bytes) unused for " +
                  std::to_string(cache_retention.count() / 1000) + " s");
          const auto checkpoints = trim_stale_checkpoints(job_options.checkpoint_dir, cache_retention);
          if (checkpoints > 0 && !s.options.quiet)
            s.log("removed " + std::to_string(checkpoints) + " checkpoint(s) not written for " +
                  std::to_string(cache_retention.count() / 1000) + " s");
        }
        protocol::LeaseGrant lease;
        const LeaseStatus status = s.client->lease(registration->group_id, s.options.lease_wait_s, lease);
        if (status == LeaseStatus::stopped) break;
        if (status == LeaseStatus::none) continue;
        if (status == LeaseStatus::unknown_group) {
          s.log("the coordinator does not know group " + registration->group_id + "; registering again");
          registration.reset();
          continue;
        }
        // Leased: heartbeats start now (downloads and preparation may outlast a lease TTL).
        const std::string job_id = lease.job.id;
        // `attempts` counts the attempts that ended without success: this one is attempts + 1.
        attempt = lease.job.attempts + 1;
        int64_t interval = registration->heartbeat_ms;
        if (lease.lease_ttl_ms > 0) interval = std::min<int64_t>(interval, std::max<int64_t>(1, lease.lease_ttl_ms / 3));
        s.cancel.store(false);
        s.job_id = job_id;
        s.lease_id = lease.lease_id;
        s.first_report = true;
        s.total_steps = 0;
        s.heartbeat = std::make_unique<HeartbeatLoop>(*s.client, job_id, lease.lease_id,
                                                      std::chrono::milliseconds(interval), &s.cancel);
        if (!s.options.quiet) s.log("leased job " + job_id + " (lease " + lease.lease_id + ")");
        LeasedJob leased = prepare_leased_job(lease.job, *s.client, job_options);
        if (!leased.job) {
          s.heartbeat->stop();
          const bool lost = s.heartbeat->lease_lost();
          s.heartbeat.reset();
          if (!lost)
            s.client->fail(job_id, {.lease_id = lease.lease_id,
                                    .error = {leased.error_code, leased.error},
                                    .retryable = leased.retryable});
          JobOutcome outcome;
          outcome.error = leased.error;
          outcome.prepare_failed = true;
          print(job_id, outcome, "");
          s.job_id.clear();
          continue;
        }
        s.metric = leased.job->spec.train.metric;  // parse_job_spec fills in the default
        s.may_have_resumed = std::filesystem::exists(leased.job->checkpoint_file);
        lease_id = lease.lease_id;
        message.job = std::move(leased.job);
        break;
      }
    }
    comm.set_timeout(MpiCommunicator::kNoTimeout);  // waiting for work is not a fault
    message = broadcast_message(comm, message);
    if (!message.job) break;
    comm.set_timeout(job_timeout);
    const GroupJob& job = *message.job;
    JobOutcome outcome = group.run(job);
    if (outcome.state == RunState::interrupted) interrupted = true;
    if (s.rank != 0) continue;

    std::string version;
    HeartbeatLoop& heartbeat = *s.heartbeat;
    // A cancel that arrived while the last steps ran still wins: nothing is published.
    if (outcome.state == RunState::succeeded && s.cancel.load()) outcome.state = RunState::cancelled;
    switch (outcome.state) {
      case RunState::succeeded: {
        std::optional<ResolvedVersion> published;
        try {
          published = registry->publish(job.spec.task, job.out, PublishLineage{.job_id = job.id, .attempt = attempt});
        } catch (const std::exception& e) {
          outcome.state = RunState::failed;
          outcome.error = std::string("publish: ") + e.what();
        }
        heartbeat.stop();
        if (published) {
          version = published->task + "@" + std::to_string(published->version);
          const ReportStatus st = s.client->complete(job.id, {.lease_id = lease_id, .artifact = version});
          if (st != ReportStatus::ok)
            s.log("job " + job.id + ": the coordinator did not take complete " + version +
                  (st == ReportStatus::conflict ? " (409: the lease is gone)" : ""));
        } else if (!heartbeat.lease_lost()) {
          s.client->fail(job.id, {.lease_id = lease_id, .error = {"publish_failed", outcome.error}, .retryable = true});
        }
        break;
      }
      case RunState::failed:
        heartbeat.stop();
        if (!heartbeat.lease_lost())
          s.client->fail(job.id, {.lease_id = lease_id,
                                  .error = {outcome.prepare_failed ? "invalid_job" : "training_failed", outcome.error},
                                  .retryable = !outcome.prepare_failed});
        break;
      case RunState::cancelled: {
        heartbeat.stop();
        if (!heartbeat.lease_lost()) s.client->cancelled(job.id, {.lease_id = lease_id});
        std::error_code ignored;
        if (!heartbeat.lease_lost()) std::filesystem::remove(job.checkpoint_file, ignored);
        break;
      }
      case RunState::interrupted:
        heartbeat.stop();
        if (!heartbeat.lease_lost())
          s.client->fail(job.id, {.lease_id = lease_id,
                                  .error = {kPreempted, "the worker group was stopped at step " +
                                                                std::to_string(outcome.result.train.steps) +
                                                                "; checkpoint kept"},
                                  .retryable = true});
        break;
    }
    remove_job_staging(job);
    print(job.id, outcome, version);
    s.heartbeat.reset();
    s.job_id.clear();
  }
  return 0;
}

}  // namespace trellis
