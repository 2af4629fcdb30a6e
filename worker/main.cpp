// trellis-worker: one worker group (an MPI job: mpirun, or srun --mpi=pmix under Slurm). Loads
// the frozen backbone once per rank and trains jobs back to back on it, data-parallel across the
// ranks. Local mode: --job SPEC --out DIR, or --jobs-dir DIR --out DIR.
// Exit codes: 0 every job succeeded (or was already done); 1 a job failed, or the group hit an
// error (a rank's error ends every rank via MPI_Abort); 2 usage; 3 interrupted (a checkpoint was
// kept: rerun the same command to resume).
// Coordinator mode: --coordinator URL --token-file F --registry ROOT --checkpoint-dir DIR leases
// jobs from the coordinator (worker/coordinator_mode.h) until SIGTERM/SIGINT; exit 0 on that stop.
#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "registry/artifact_registry.h"
#include "trainer/model/backbone.h"
#include "trainer/train/runtime.h"
#include "common/error.h"
#include "worker/coordinator_jobs.h"
#include "worker/coordinator_mode.h"
#include "worker/group/worker_group.h"
#include "worker/local_jobs.h"
#include "worker/mpi/mpi_communicator.h"
#include "worker/mpi/mpi_runtime.h"
#include "worker/routing_communicator.h"
#ifdef TRELLIS_WITH_NCCL
#include "worker/nccl/nccl_communicator.h"
#endif
#include "worker/worker_options.h"

namespace {

std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }

bool parse_options(int argc, char** argv, trellis::WorkerOptions& o, int rank, int& exit_code) {
  CLI::App app{"trellis-worker: a worker group training task adapters on a resident backbone"};
  trellis::apply_environment(o, trellis::Environment::of_process(), TRELLIS_DEFAULT_CONFIG_DIR);
  auto* job = app.add_option("--job", o.job, "One job spec (JSON) to train");
  auto* dir = app.add_option("--jobs-dir", o.jobs_dir, "Train every *.json spec of this directory, in name order");
  job->excludes(dir);
  app.add_option("--out", o.out, "--job: the artifact directory; --jobs-dir: the parent of one directory per spec");
  app.add_option("--registry", o.registry,
                 "Publish every artifact as the next version of its task in this registry root (env TRELLIS_REGISTRY)");
  app.add_option("--config-dir", o.config_dir, "Directory holding backbones/<name>.json (env TRELLIS_CONFIG_DIR)");
  app.add_option("--backbone", o.backbone, "The backbone this group serves (default: the first job's)");
  app.add_option("--checkpoint-dir", o.checkpoint_dir,
                 "Keep each job's latest checkpoint here; a job whose checkpoint exists resumes from it");
  app.add_option("--checkpoint-every", o.checkpoint_every, "Checkpoint every N steps (needs --checkpoint-dir)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--stop-at-step", o.stop_at_step, "Drill: checkpoint and stop after this step (as on SIGTERM)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--inject-fault", o.inject_fault, "Drill: RANK:STEP makes that rank fail at that step")
      ->check([](const std::string& v) {
        return v.find(':') == std::string::npos ? std::string("expected RANK:STEP") : std::string();
      });
  app.add_option("--device", o.device, "cpu, or cuda (one GPU per rank; NCCL for the gradients)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--device-index", o.device_index, "cuda: the GPU of this rank (default: its index on the node)");
  app.add_option("--threads", o.threads, "Intra-op threads per rank (default: cores per rank)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--collective-timeout", o.collective_timeout_s,
                 "Seconds a training collective may wait for a peer before the group is ended")
      ->check(CLI::PositiveNumber);
  app.add_option("--log-every", o.log_every, "Progress line every N steps")->check(CLI::PositiveNumber);
  app.add_flag("-q,--quiet", o.quiet, "No progress output on stderr");
  auto* coord = app.add_option("--coordinator", o.coordinator,
                               "Lease jobs from this coordinator (http://HOST:PORT) until SIGTERM");
  coord->excludes(job)->excludes(dir);
  app.add_option("--token-file", o.token_file, "--coordinator: the file holding the bearer token (role worker)");
  app.add_option("--data-cache", o.data_cache,
                 "--coordinator: where downloaded data files are kept (default: <checkpoint-dir>/data-cache)");
  app.add_option("--data-cache-retention-days", o.data_cache_retention_days,
                 "--coordinator: cached data files unused this long, and checkpoints not written this long, are "
                 "removed (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lease-wait", o.lease_wait_s, "--coordinator: seconds each lease request waits for a job (0..60)")
      ->check(CLI::Range(0, 60));
  app.set_version_flag("--version", TRELLIS_VERSION);
  try {
    app.parse(argc, argv);
    if (!o.coordinator.empty()) {
      if (o.token_file.empty()) throw CLI::ValidationError("--coordinator needs --token-file");
      if (o.registry.empty()) throw CLI::ValidationError("--coordinator needs --registry");
      if (o.checkpoint_dir.empty()) throw CLI::ValidationError("--coordinator needs --checkpoint-dir");
      if (!o.out.empty()) throw CLI::ValidationError("--out is for local mode (--job, --jobs-dir)");
    } else {
      if (o.job.empty() && o.jobs_dir.empty())
        throw CLI::ValidationError("one of --job or --jobs-dir (or --coordinator) is required");
      if (o.out.empty() && o.registry.empty()) throw CLI::ValidationError("--out or --registry is required");
      if (!o.token_file.empty() || !o.data_cache.empty())
        throw CLI::ValidationError("--token-file and --data-cache need --coordinator");
    }
    if (o.checkpoint_every > 0 && o.checkpoint_dir.empty())
      throw CLI::ValidationError("--checkpoint-every needs --checkpoint-dir");
  } catch (const CLI::ParseError& e) {
    // Every rank parsed the same arguments; rank 0 speaks for all.
    const int rc = rank == 0 ? app.exit(e) : e.get_exit_code();
    exit_code = rc == 0 ? 0 : 2;
    return false;
  }
  return true;
}

const auto g_process_start = std::chrono::steady_clock::now();

// One JSON line per job on stdout (rank 0). `started` is when the group began the job.
void print_outcome(const trellis::LocalJobItem& item, const trellis::JobOutcome* outcome, int world, int threads,
                   int backbone_loads, std::chrono::steady_clock::time_point started = {},
                   const std::optional<trellis::ResolvedVersion>& published = std::nullopt) {
  nlohmann::json j = {
      {"job", item.id}, {"world_size", world}, {"threads_per_rank", threads}, {"backbone_loads", backbone_loads}};
  if (outcome) j["job_started_after_process_s"] = std::chrono::duration<double>(started - g_process_start).count();
  if (!outcome) {
    j["state"] = item.already_done ? "skipped" : "failed";
    if (item.already_done) j["reason"] = "its artifact directory exists";
    else j["error"] = item.error;
  } else {
    const auto& r = outcome->result;
    j["state"] = trellis::to_string(outcome->state);
    if (outcome->state == trellis::RunState::failed) j["error"] = outcome->error;
    if (outcome->state == trellis::RunState::succeeded) {
      j["artifact"] = published ? published->dir.string() : item.job->out;
      if (published) j["version"] = published->task + "@" + std::to_string(published->version);
      j["metrics"] = r.manifest.metrics;
      j["best_step"] = r.manifest.best_step;
      j["params_trained"] = r.manifest.params_trained;
    }
    if (outcome->state == trellis::RunState::interrupted) j["checkpoint"] = item.job->checkpoint_file;
    if (outcome->state != trellis::RunState::failed) {
      j["steps"] = r.train.steps;
      j["resumed_from_step"] = r.resumed_from_step;
      j["replicas_verified"] = r.replicas_verified;
      j["train_seconds"] = r.train.train_seconds;
      j["samples_per_s"] = r.train.samples_per_s;
      j["seconds_to_first_step"] = outcome->seconds_to_first_step;
      j["prepare_seconds"] = outcome->prepare_seconds;
      j["first_step_seconds"] = outcome->first_step_seconds;
      j["allreduce_seconds"] = r.train.allreduce_seconds;
      j["gradient_bytes_per_step"] = r.train.gradient_bytes_per_step;
      j["metadata_bytes_per_step"] = r.train.metadata_bytes_per_step;
    }
    j["seconds"] = outcome->seconds;
  }
  std::cout << j.dump() << std::endl;
}

}  // namespace

std::function<void(const std::string&)> g_report_group_error;  // coordinator mode, rank 0

int main(int argc, char** argv) {
  using namespace trellis;
  std::unique_ptr<MpiRuntime> mpi;
  try {
    mpi = std::make_unique<MpiRuntime>(&argc, &argv);
  } catch (const std::exception& e) {
    std::cerr << "trellis-worker: error: " << e.what() << "\n";
    return 1;
  }
  const int rank = mpi->rank(), world = mpi->size();
  WorkerOptions options;
  int exit_code = 0;
  if (!parse_options(argc, argv, options, rank, exit_code)) return exit_code;
  const int threads = options.threads > 0 ? options.threads
                                          : default_threads_per_rank(mpi->local_size(), options.slurm_cpus_per_task);
  set_compute_threads(threads);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);

  MpiCommunicator comm(MPI_COMM_WORLD);
  const auto job_timeout = std::chrono::milliseconds(static_cast<int64_t>(options.collective_timeout_s * 1000));
  const bool coordinator_mode = !options.coordinator.empty();
  std::optional<CoordinatorSession> session;  // outlives the try: the catch reports through it
  try {
    if (coordinator_mode) session.emplace(options, rank, world, g_stop_requested);
    std::optional<LocalJobSource> source;
    std::optional<ArtifactRegistry> registry;  // rank 0 publishes
    std::string backbone_name = options.backbone;
    if (rank == 0) {
      // A registry that is missing (or not mounted) is an error now, not after the first job.
      if (!options.registry.empty()) registry.emplace(RegistryOptions{.root = options.registry});
      if (coordinator_mode) {
        if (backbone_name.empty()) backbone_name = only_backbone(options.config_dir);
        if (backbone_name.empty())
          throw Error("--coordinator: name the backbone to serve with --backbone (" + options.config_dir +
                      "/backbones holds none or several)");
      } else {
        source.emplace(options);
        if (backbone_name.empty()) backbone_name = source->first_backbone();
      }
    }
    backbone_name = broadcast_bytes(comm, backbone_name, 0);
    std::shared_ptr<const Backbone> backbone;
    int backbone_loads = 0;
    if (!backbone_name.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      backbone = with_torch_errors([&] { return load_backbone(options.config_dir, backbone_name); });
      ++backbone_loads;
      if (rank == 0 && !options.quiet)
        std::fprintf(stderr,
                     "trellis-worker: %d rank(s) x %d thread(s); backbone %s (sha256 %.12s) loaded in %.0f ms\n", world,
                     threads, backbone_name.c_str(), backbone->weights_sha256().c_str(),
                     std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    // Device groups: the backbone moves to this rank's GPU; gradients go through NCCL, control
    // messages, evaluation outputs and checkpoints (CPU tensors) through MPI.
    std::unique_ptr<Communicator> device_comm;
    if (options.device == "cuda") {
#ifdef TRELLIS_WITH_NCCL
      const int index = options.device_index >= 0 ? options.device_index : mpi->local_rank();
      device_comm = NcclCommunicator::create(comm, index);
      if (backbone) backbone = with_torch_errors([&] { return backbone->to(at::Device(at::kCUDA, index)); });
#else
      throw Error("--device cuda: this trellis-worker was built without CUDA and NCCL (LibTorch has no CUDA)");
#endif
    }
    RoutingCommunicator routed(comm, device_comm.get());
    WorkerGroupOptions group_options;
    group_options.checkpoint_every = options.checkpoint_every;
    group_options.stop_at_step = options.stop_at_step;
    group_options.stop_requested = &g_stop_requested;
    group_options.log_progress = !options.quiet;
    group_options.log_every = options.log_every;
    if (!options.inject_fault.empty()) {
      const auto colon = options.inject_fault.find(':');
      group_options.fault_rank = std::stoi(options.inject_fault.substr(0, colon));
      group_options.fault_step = std::stoll(options.inject_fault.substr(colon + 1));
    }
    if (session) session->install(group_options);
    std::optional<WorkerGroup> group;
    if (backbone) group.emplace(routed, backbone, group_options);

    if (session) {
      g_report_group_error = [&session](const std::string& error) { session->report_group_error(error); };
      const int rc = session->run(
          *group, comm, backbone_name, backbone->weights_sha256(), registry ? &*registry : nullptr, job_timeout,
          [&](const std::string& job_id, const JobOutcome& outcome, const std::string& version) {
            if (rank != 0) return;
            nlohmann::json j = {{"job", job_id},
                                {"state", to_string(outcome.state)},
                                {"world_size", world},
                                {"threads_per_rank", threads},
                                {"backbone_loads", backbone_loads}};
            if (outcome.state == RunState::failed) j["error"] = outcome.error;
            if (!version.empty()) j["version"] = version;
            if (outcome.state != RunState::failed) {
              j["steps"] = outcome.result.train.steps;
              j["resumed_from_step"] = outcome.result.resumed_from_step;
              j["prepare_seconds"] = outcome.prepare_seconds;
              j["seconds_to_first_step"] = outcome.seconds_to_first_step;
              j["first_step_seconds"] = outcome.first_step_seconds;
            }
            j["seconds"] = outcome.seconds;
            std::cout << j.dump() << std::endl;
          });
      g_report_group_error = nullptr;
      return rc;
    }

    bool any_failed = false, interrupted = false;
    for (;;) {
      // Rank 0 picks the next job; every rank learns it (or that there is none) by broadcast.
      std::optional<LocalJobItem> item;
      GroupMessage message;
      if (rank == 0) {
        // A stop requested between jobs (SIGTERM) starts no further job.
        while (!interrupted && !g_stop_requested.load() && (item = source->next())) {
          if (item->job) break;
          any_failed |= !item->already_done;
          print_outcome(*item, nullptr, world, threads, backbone_loads);
        }
        if (item && item->job && !interrupted) message.job = item->job;
      }
      comm.set_timeout(MpiCommunicator::kNoTimeout);  // waiting for work is not a fault
      message = broadcast_message(comm, message);
      if (!message.job) break;
      comm.set_timeout(job_timeout);
      const auto started = std::chrono::steady_clock::now();
      JobOutcome outcome = group->run(*message.job);
      std::optional<ResolvedVersion> published;
      if (registry && outcome.state == RunState::succeeded) {
        try {
          published =
              registry->publish(message.job->spec.task, message.job->out, PublishLineage{.job_id = message.job->id});
        } catch (const std::exception& e) {
          outcome.state = RunState::failed;
          outcome.error = std::string("publish: ") + e.what();
        }
      }
      // Without --out, the artifact was staged in a temporary directory of this job only.
      if (rank == 0 && options.out.empty()) remove_job_staging(*message.job);
      if (rank == 0) print_outcome(*item, &outcome, world, threads, backbone_loads, started, published);
      any_failed |= outcome.state == RunState::failed;
      if (outcome.state == RunState::interrupted) {
        interrupted = true;
        if (rank == 0)
          std::fprintf(stderr, "trellis-worker: job %s interrupted at step %lld; checkpoint %s; rerun to resume\n",
                       message.job->id.c_str(), (long long)outcome.result.train.steps,
                       message.job->checkpoint_file.empty() ? "(none: no --checkpoint-dir)"
                                                            : message.job->checkpoint_file.c_str());
      }
    }
    return interrupted ? 3 : any_failed ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trellis-worker: error on rank %d of %d: %s\n", rank, world, e.what());
    std::fflush(stderr);
    if (g_report_group_error) g_report_group_error(e.what());
    if (world > 1) MpiRuntime::abort_world(1);
    return 1;
  }
}
