#pragma once
// SlurmClient: what the launcher asks of Slurm (submit a worker group, cancel one, the states of
// the ones it launched). SlurmCommandClient does it with the sbatch, scancel and squeue commands
// (run_process: no shell, a timeout, output captured). Tests use a fake.
#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/launcher/process_runner.h"
#include "coordinator/store/job.h"

namespace trellis {

struct GroupSubmission {
  std::string backbone_name;    // TRELLIS_BACKBONE for the batch script
  std::string backbone_sha256;  // TRELLIS_BACKBONE_SHA256 (informational)
};

class SlurmClient {
 public:
  virtual ~SlurmClient() = default;
  // Submits a worker group; returns its Slurm job id. Throws trellis::Error (unavailable).
  virtual std::string submit(const GroupSubmission& submission) = 0;
  // Cancels a job (scancel). Throws trellis::Error (unavailable).
  virtual void cancel(const std::string& job_id) = 0;
  // The states of those of `job_ids` that Slurm still lists; a job absent from the answer has
  // ended (or was never known). Throws trellis::Error (unavailable) when Slurm cannot be asked
  // (the caller then knows nothing and must not conclude that anything ended).
  virtual std::map<std::string, LaunchState> states(const std::vector<std::string>& job_ids) = 0;
};

// A Slurm job state (squeue %T, e.g. PENDING, RUNNING, COMPLETING, CANCELLED) as the launcher
// sees it: pending (not started yet), running, or ended (its processes are gone: COMPLETING
// counts as ended). Unknown states count as running.
LaunchState launch_state_of(const std::string& slurm_state);

struct SlurmCommandOptions {
  std::filesystem::path sbatch_script;
  std::vector<std::string> sbatch_args;  // extra sbatch arguments, before the script
  // Put into sbatch's environment (exported to the job by --export=ALL): --launcher-env.
  std::vector<std::pair<std::string, std::string>> env;
  // TRELLIS_COORDINATOR_URL for the job, unless `env` sets it.
  std::string coordinator_url;
  std::string sbatch = "sbatch";
  std::string scancel = "scancel";
  std::string squeue = "squeue";
  std::chrono::milliseconds timeout{30'000};  // per command
};

class SlurmCommandClient : public SlurmClient {
 public:
  explicit SlurmCommandClient(SlurmCommandOptions options) : options_(std::move(options)) {}
  // sbatch --parsable --job-name=trellis-<backbone> --export=ALL,TRELLIS_BACKBONE=<name>,
  //   TRELLIS_BACKBONE_SHA256=<sha>[,TRELLIS_COORDINATOR_URL=<url>] [sbatch args] <script>
  std::string submit(const GroupSubmission& submission) override;
  void cancel(const std::string& job_id) override;  // scancel <id>
  // squeue -h -j <id,id,...> -o '%i %T'
  std::map<std::string, LaunchState> states(const std::vector<std::string>& job_ids) override;

  const SlurmCommandOptions& options() const { return options_; }

 private:
  ProcessResult run(const std::vector<std::string>& argv) const;
  SlurmCommandOptions options_;
};

}  // namespace trellis
