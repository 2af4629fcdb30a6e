#pragma once
// GroupLauncher: the policy of the coordinator's launcher mode. Each tick() (every
// --launcher-poll seconds, on the launcher's own thread):
//  1. asks Slurm (SlurmClient::states) about the jobs it launched (kept in the JobStore, so a
//     restarted coordinator still knows them). A job Slurm no longer lists (or lists as ended)
//     ended: each group registered with that slurm_job_id is released at once (its live leases
//     go back to the queue with attempts + 1 and error group_ended; the group is marked ended),
//     then the launch is recorded as ended. When Slurm cannot be asked, nothing else happens
//     this tick.
//  2. scancels launched groups idle (registered and live, holding no lease) for longer than the
//     idle timeout, launched jobs that have run that long without a live registered group, and
//     launched jobs still pending in Slurm while no job for their backbone is queued.
//  3. for each backbone with queued jobs and no idle live group serving it (any group, launched
//     or not), submits one worker group with sbatch, unless a group it launched for that
//     backbone is still starting (pending in Slurm, or running but not registered yet) or
//     max_groups launched groups are pending or running already.
// Errors (a command that failed, the store) are logged and the step is retried at the next tick.
// Thread-safety: tick() from one thread at a time; counts()/render_metrics() from any thread.
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "coordinator/launcher/slurm_client.h"
#include "coordinator/store/job_store.h"

namespace trellis {

struct LauncherOptions {
  int max_groups = 2;  // launched groups pending or running, in all
  std::chrono::milliseconds idle_timeout{300'000};
  std::chrono::milliseconds group_live_window{90'000};  // a group is live if seen this recently
  std::chrono::milliseconds cancel_retry{60'000};       // scancel again if Slurm still lists it
};

struct LauncherTick {
  std::vector<std::string> submitted;      // Slurm job ids
  std::vector<std::string> cancelled;      // Slurm job ids scancelled
  std::vector<std::string> ended;          // Slurm job ids seen ended
  std::vector<std::string> released_jobs;  // job ids sent back to the queue
  std::vector<std::string> errors;
};

struct LauncherCounts {
  int64_t pending = 0;
  int64_t running = 0;
  int64_t submissions_total = 0;
};

class GroupLauncher {
 public:
  // Releases a group (ends its live leases): by default store.release_group; the coordinator
  // passes JobService::release_group, which also wakes the waiters.
  using ReleaseFn = std::function<std::vector<std::string>(const std::string& group_id, const JobError& error)>;
  using LogFn = std::function<void(const std::string& line)>;  // default: stderr

  GroupLauncher(JobStore& store, SlurmClient& slurm, const Clock& clock, LauncherOptions options,
                ReleaseFn release = {}, LogFn log = {});

  LauncherTick tick();  // never throws
  LauncherCounts counts() const;
  // trellis_launcher_groups{state="pending|running"}, trellis_launcher_submissions_total.
  std::string render_metrics() const;

 private:
  void poll_slurm(Time now, LauncherTick& out, bool& slurm_ok);
  void cancel_idle(const LauncherSnapshot& snap, Time now, LauncherTick& out);
  void submit_needed(LauncherSnapshot& snap, Time now, LauncherTick& out);
  void cancel(LaunchedJob launch, Time now, const std::string& why, LauncherTick& out);
  bool live(const Group& g, Time now) const { return g.last_seen >= now - options_.group_live_window; }
  void error(LauncherTick& out, const std::string& message);

  JobStore& store_;
  SlurmClient& slurm_;
  const Clock& clock_;
  LauncherOptions options_;
  ReleaseFn release_;
  LogFn log_;
  std::map<std::string, Time> idle_since_;          // by Slurm job id: registered, no lease
  std::map<std::string, Time> unregistered_since_;  // by Slurm job id: running, no live group
  std::map<std::string, bool> at_limit_logged_;     // by backbone sha256
  mutable std::mutex counts_mutex_;
  LauncherCounts counts_;
};

}  // namespace trellis
