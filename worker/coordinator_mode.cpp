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
#include "worker/heartbeat_loop.h"
#include "worker/lease_loop.h"
#include "worker/mpi/mpi_communicator.h"

namespace trellis {

using protocol::CoordinatorClient;
using protocol::CoordinatorClientOptions;
using protocol::ReportStatus;

struct CoordinatorSession::State {
  const WorkerOptions& options;
  int rank, world;
  const std::atomic<bool>& stop;
  std::unique_ptr<CoordinatorClient> client;  // rank 0
  std::atomic<bool> cancel{false};            // the group's cancel_requested (rank 0)
  // The job in flight (rank 0; the MPI thread sets and reads them, the hooks run on it too).
  JobInFlight in_flight;
  std::string metric;
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
    if (!s->in_flight.heartbeat) return;
    // A resumed attempt's first step is the checkpoint's step + 1.
    if (s->first_report && s->may_have_resumed && r.step > 1) s->in_flight.heartbeat->set_resumed_from(r.step - 1);
    const bool first = s->first_report;
    s->first_report = false;
    s->in_flight.heartbeat->report(r.step, r.total_steps,
                                   {{"step", r.step},
                                    {"epoch", r.epoch},
                                    {"loss", r.loss},
                                    {"learning_rate", r.learning_rate},
                                    {"samples_per_s", r.samples_per_s}},
                                   first);
  };
  group_options.on_eval_report = [s](const EvalReport& r) {
    if (!s->in_flight.heartbeat) return;
    nlohmann::json eval = {{"step", r.step}, {"epoch", r.epoch}, {"best", r.best}, {"metrics", r.metrics}};
    if (auto it = r.metrics.find(s->metric); it != r.metrics.end()) {
      eval["metric"] = s->metric;
      eval["value"] = it->second;
    }
    s->in_flight.heartbeat->report(r.step, s->total_steps, {{"eval", eval}});
  };
}

void CoordinatorSession::report_group_error(const std::string& error) {
  State* s = state_.get();
  JobInFlight& job = s->in_flight;
  if (s->rank != 0 || !s->client || job.job_id.empty()) return;
  if (job.heartbeat) {
    job.heartbeat->stop();
    if (job.heartbeat->lease_lost()) return;
  }
  s->client->fail(job.job_id, {.lease_id = job.lease_id, .error = {"group_error", error}, .retryable = true});
}

std::string only_backbone(const std::string& config_dir) {
  std::error_code ec;
  std::string found;
  int n = 0;
  for (std::filesystem::directory_iterator it(std::filesystem::path(config_dir) / "backbones", ec), end;
       !ec && it != end; it.increment(ec)) {
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
  std::optional<LeaseLoop> leases;  // rank 0
  if (s.rank == 0) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    LeaseLoopOptions lease_options;
    lease_options.registration = {.backbone_name = backbone_name,
                                  .backbone_sha256 = backbone_sha256,
                                  .world_size = s.world,
                                  .devices = std::vector<std::string>(s.world, s.options.device),
                                  .host = std::string(host),
                                  .slurm_job_id = s.options.slurm_job_id};  // lets a launching coordinator tie us to it
    lease_options.jobs.checkpoint_dir = s.options.checkpoint_dir;
    if (const int swept = sweep_dead_workers_staging(); swept > 0 && !s.options.quiet)
      s.log("removed " + std::to_string(swept) + " staging director" + (swept == 1 ? "y" : "ies") +
            " left by worker processes that are gone");
    lease_options.jobs.data_cache = s.options.data_cache;
    lease_options.jobs.backbone = backbone_name;
    lease_options.lease_wait_s = s.options.lease_wait_s;
    // Idle groups trim the data cache and stale checkpoints at most hourly (disk_retention.h).
    lease_options.cache_retention =
        std::chrono::milliseconds(static_cast<int64_t>(s.options.data_cache_retention_days * 86400.0 * 1000.0));
    lease_options.cancel = &s.cancel;
    lease_options.quiet = s.options.quiet;
    lease_options.log = [&s](const std::string& line) { s.log(line); };
    leases.emplace(*s.client, std::move(lease_options), s.in_flight);
  }
  bool interrupted = false;
  for (;;) {
    GroupMessage message;
    std::string lease_id;
    int64_t attempt = 0;
    if (s.rank == 0) {
      while (!interrupted && !s.stop.load()) {
        LeaseStep step = leases->step();
        if (step.kind == LeaseStep::Kind::stopped) break;
        if (step.kind == LeaseStep::Kind::refused) {  // already reported failed
          JobOutcome outcome;
          outcome.error = step.error;
          outcome.prepare_failed = true;
          print(step.job_id, outcome, "");
          continue;
        }
        if (step.kind != LeaseStep::Kind::leased) continue;  // registered, no job, unknown group
        s.first_report = true;
        s.total_steps = 0;
        s.metric = step.job->spec.train.metric;  // parse_job_spec fills in the default
        s.may_have_resumed = std::filesystem::exists(step.job->checkpoint_file);
        lease_id = step.lease_id;
        attempt = step.attempt;
        message.job = std::move(step.job);
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
    HeartbeatLoop& heartbeat = *s.in_flight.heartbeat;
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
          s.client->fail(job.id,
                         {.lease_id = lease_id,
                          .error = {kPreempted, "the worker group was stopped at step " +
                                                    std::to_string(outcome.result.train.steps) + "; checkpoint kept"},
                          .retryable = true});
        break;
    }
    remove_job_staging(job);
    print(job.id, outcome, version);
    s.in_flight.heartbeat.reset();
    s.in_flight.job_id.clear();
  }
  return 0;
}

}  // namespace trellis
