#include "coordinator/launcher/group_launcher.h"

#include <iostream>
#include <set>

namespace trellis {

namespace {
int64_t seconds(std::chrono::milliseconds d) { return std::chrono::duration_cast<std::chrono::seconds>(d).count(); }
}  // namespace

GroupLauncher::GroupLauncher(JobStore& store, SlurmClient& slurm, const Clock& clock, LauncherOptions options,
                             ReleaseFn release, LogFn log)
    : store_(store),
      slurm_(slurm),
      clock_(clock),
      options_(options),
      release_(std::move(release)),
      log_(std::move(log)) {
  if (!release_)
    release_ = [this](const std::string& group_id, const JobError& e) { return store_.release_group(group_id, e); };
  if (!log_) log_ = [](const std::string& line) { std::cerr << "trellis-coordinator: launcher: " << line << "\n"; };
}

void GroupLauncher::error(LauncherTick& out, const std::string& message) {
  out.errors.push_back(message);
  log_(message);
}

LauncherTick GroupLauncher::tick() {
  LauncherTick out;
  const Time now = to_millis(clock_.now());
  bool slurm_ok = true;
  poll_slurm(now, out, slurm_ok);
  if (!slurm_ok) return out;
  try {
    LauncherSnapshot snap = store_.launcher_snapshot(Time{});
    cancel_idle(snap, now, out);
    snap.launches = store_.launched_jobs();  // with the cancellations just recorded
    submit_needed(snap, now, out);
    LauncherCounts c;
    for (const auto& l : snap.launches) (l.state == LaunchState::pending ? c.pending : c.running) += 1;
    std::lock_guard lock(counts_mutex_);
    counts_.pending = c.pending;
    counts_.running = c.running;
  } catch (const std::exception& e) {
    error(out, std::string("store: ") + e.what());
  }
  return out;
}

void GroupLauncher::poll_slurm(Time now, LauncherTick& out, bool& slurm_ok) {
  std::vector<LaunchedJob> launches;
  try {
    launches = store_.launched_jobs();
  } catch (const std::exception& e) {
    error(out, std::string("store: ") + e.what());
    slurm_ok = false;
    return;
  }
  if (launches.empty()) return;
  std::vector<std::string> ids;
  ids.reserve(launches.size());
  for (const auto& l : launches) ids.push_back(l.slurm_job_id);
  std::map<std::string, LaunchState> listed;
  try {
    listed = slurm_.states(ids);
  } catch (const std::exception& e) {
    error(out, e.what());
    slurm_ok = false;
    return;
  }
  std::vector<Group> groups;
  bool have_groups = false;
  for (LaunchedJob& l : launches) {
    const auto it = listed.find(l.slurm_job_id);
    const LaunchState state = it == listed.end() ? LaunchState::ended : it->second;
    try {
      if (state != LaunchState::ended) {
        if (state != l.state) {
          l.state = state;
          store_.record_launch(l);
        }
        continue;
      }
      // Ended: its groups are dead now; their leases go back to the queue at once.
      if (!have_groups) {
        for (auto& a : store_.launcher_snapshot(Time{}).groups) groups.push_back(std::move(a.group));
        have_groups = true;
      }
      for (const Group& g : groups) {
        if (g.slurm_job_id != l.slurm_job_id) continue;
        const JobError e{"group_ended", "The Slurm job " + l.slurm_job_id + " of worker group " + g.id +
                                            " ended while the group held the job's lease."};
        for (auto& id : release_(g.id, e)) {
          log_("Slurm job " + l.slurm_job_id + " ended: released the lease of job " + id + " (group " + g.id + ")");
          out.released_jobs.push_back(id);
        }
      }
      l.state = LaunchState::ended;
      l.ended_at = now;
      store_.record_launch(l);
      idle_since_.erase(l.slurm_job_id);
      unregistered_since_.erase(l.slurm_job_id);
      out.ended.push_back(l.slurm_job_id);
      log_("Slurm job " + l.slurm_job_id + " (" + l.backbone_name + ") ended");
    } catch (const std::exception& e) {
      error(out, "Slurm job " + l.slurm_job_id + ": " + e.what());
    }
  }
}

void GroupLauncher::cancel(LaunchedJob launch, Time now, const std::string& why, LauncherTick& out) {
  try {
    slurm_.cancel(launch.slurm_job_id);
  } catch (const std::exception& e) {
    error(out, e.what());
    return;
  }
  launch.cancel_requested_at = now;
  try {
    store_.record_launch(launch);
  } catch (const std::exception& e) {
    error(out, "store: " + std::string(e.what()));
  }
  out.cancelled.push_back(launch.slurm_job_id);
  log_("scancel " + launch.slurm_job_id + " (" + launch.backbone_name + "): " + why);
}

void GroupLauncher::cancel_idle(const LauncherSnapshot& snap, Time now, LauncherTick& out) {
  std::set<std::string> active;
  for (const LaunchedJob& l : snap.launches) {
    active.insert(l.slurm_job_id);
    if (l.cancel_requested_at) {
      idle_since_.erase(l.slurm_job_id);
      unregistered_since_.erase(l.slurm_job_id);
      if (now - *l.cancel_requested_at >= options_.cancel_retry) cancel(l, now, "still listed after scancel", out);
      continue;
    }
    bool registered = false, busy = false;
    for (const GroupActivity& a : snap.groups) {
      if (a.group.slurm_job_id != l.slurm_job_id || !live(a.group, now)) continue;
      registered = true;
      busy = busy || a.live_leases > 0;
    }
    if (registered) {
      unregistered_since_.erase(l.slurm_job_id);
      if (busy) {
        idle_since_.erase(l.slurm_job_id);
        continue;
      }
      const Time since = idle_since_.emplace(l.slurm_job_id, now).first->second;
      if (now - since >= options_.idle_timeout)
        cancel(l, now,
               "idle for " +
                   std::to_string(seconds(std::chrono::duration_cast<std::chrono::milliseconds>(now - since))) + " s",
               out);
    } else {
      idle_since_.erase(l.slurm_job_id);
      if (l.state != LaunchState::running) {
        unregistered_since_.erase(l.slurm_job_id);
        // Still waiting for Slurm, and nothing waits for it any more (other groups took the
        // work): withdraw it before it starts and holds its nodes for an idle timeout.
        if (!snap.queued.count(l.backbone_sha256))
          cancel(l, now, "still pending in Slurm and no job for its backbone is queued", out);
        continue;
      }
      const Time since = unregistered_since_.emplace(l.slurm_job_id, now).first->second;
      if (now - since >= options_.idle_timeout)
        cancel(l, now,
               "running for " +
                   std::to_string(seconds(std::chrono::duration_cast<std::chrono::milliseconds>(now - since))) +
                   " s without a live registered worker group",
               out);
    }
  }
  // Forget launches that are gone.
  std::erase_if(idle_since_, [&](const auto& kv) { return !active.count(kv.first); });
  std::erase_if(unregistered_since_, [&](const auto& kv) { return !active.count(kv.first); });
}

void GroupLauncher::submit_needed(LauncherSnapshot& snap, Time now, LauncherTick& out) {
  for (const auto& [sha, queued] : snap.queued) {
    if (queued.queued <= 0) continue;
    std::set<std::string> cancelling;
    for (const auto& l : snap.launches)
      if (l.cancel_requested_at) cancelling.insert(l.slurm_job_id);
    bool idle = false;
    std::set<std::string> registered;  // Slurm job ids with a live group
    for (const GroupActivity& a : snap.groups) {
      if (!live(a.group, now)) continue;
      if (!a.group.slurm_job_id.empty()) registered.insert(a.group.slurm_job_id);
      if (a.group.backbone_sha256 == sha && a.live_leases == 0 && !cancelling.count(a.group.slurm_job_id)) idle = true;
    }
    if (idle) continue;
    bool starting = false;
    for (const auto& l : snap.launches)
      if (l.backbone_sha256 == sha && !l.cancel_requested_at &&
          (l.state == LaunchState::pending || !registered.count(l.slurm_job_id)))
        starting = true;
    if (starting) continue;
    if (static_cast<int64_t>(snap.launches.size()) >= options_.max_groups) {
      if (!at_limit_logged_[sha])
        log_(std::to_string(queued.queued) + " job(s) wait for " + queued.backbone_name + " but " +
             std::to_string(snap.launches.size()) +
             " launched group(s) are pending or running (--launcher-max-groups " + std::to_string(options_.max_groups) +
             ")");
      at_limit_logged_[sha] = true;
      continue;
    }
    at_limit_logged_[sha] = false;
    if (queued.backbone_name.empty()) {
      error(out, "queued jobs for backbone sha256 " + sha + " name no backbone");
      continue;
    }
    std::string id;
    try {
      id = slurm_.submit(GroupSubmission{queued.backbone_name, sha});
    } catch (const std::exception& e) {
      error(out, e.what());
      continue;
    }
    {
      std::lock_guard lock(counts_mutex_);
      ++counts_.submissions_total;
    }
    LaunchedJob l{id, queued.backbone_name, sha, LaunchState::pending, now, std::nullopt, std::nullopt};
    snap.launches.push_back(l);
    out.submitted.push_back(id);
    log_("sbatch: Slurm job " + id + " for " + std::to_string(queued.queued) + " queued job(s) of " +
         queued.backbone_name);
    try {
      store_.record_launch(l);
    } catch (const std::exception& e) {
      error(out, "store: cannot record Slurm job " + id + " (it will not be tracked): " + e.what());
    }
  }
}

LauncherCounts GroupLauncher::counts() const {
  std::lock_guard lock(counts_mutex_);
  return counts_;
}

std::string GroupLauncher::render_metrics() const {
  const LauncherCounts c = counts();
  return "# HELP trellis_launcher_groups Worker groups the launcher submitted to Slurm that are pending or running.\n"
         "# TYPE trellis_launcher_groups gauge\n"
         "trellis_launcher_groups{state=\"pending\"} " +
         std::to_string(c.pending) +
         "\n"
         "trellis_launcher_groups{state=\"running\"} " +
         std::to_string(c.running) +
         "\n"
         "# HELP trellis_launcher_submissions_total Worker groups submitted with sbatch since the coordinator "
         "started.\n"
         "# TYPE trellis_launcher_submissions_total counter\n"
         "trellis_launcher_submissions_total " +
         std::to_string(c.submissions_total) + "\n";
}

}  // namespace trellis
