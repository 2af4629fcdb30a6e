#include "coordinator/launcher/slurm_client.h"

#include <cctype>
#include <set>
#include <sstream>

namespace trellis {

namespace {

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// The first line of a command's stderr (or stdout), cut short: for error messages.
std::string excerpt(const ProcessResult& r) {
  std::string text = trim(r.err.empty() ? r.out : r.err);
  if (const auto nl = text.find('\n'); nl != std::string::npos) text = text.substr(0, nl);
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

bool valid_slurm_job_id(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '_' && c != '+') return false;
  return true;
}

// A value inside --export=...: Slurm splits on commas.
void check_export_value(const std::string& what, const std::string& v) {
  if (v.find(',') != std::string::npos || v.find('\n') != std::string::npos)
    throw Error(ErrorCode::invalid, what + " must not contain a comma or a newline");
}

}  // namespace

LaunchState launch_state_of(const std::string& slurm_state) {
  static const std::set<std::string> pending{"PENDING",     "CONFIGURING",   "REQUEUED",    "REQUEUE_HOLD",
                                             "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT"};
  static const std::set<std::string> ended{"COMPLETED", "COMPLETING",    "CANCELLED", "FAILED",
                                           "TIMEOUT",   "NODE_FAIL",     "PREEMPTED", "BOOT_FAIL",
                                           "DEADLINE",  "OUT_OF_MEMORY", "REVOKED"};
  if (pending.count(slurm_state)) return LaunchState::pending;
  if (ended.count(slurm_state)) return LaunchState::ended;
  return LaunchState::running;  // RUNNING, SUSPENDED, STOPPED, SIGNALING, STAGE_OUT, RESIZING, ...
}

ProcessResult SlurmCommandClient::run(const std::vector<std::string>& argv) const {
  ProcessOptions po;
  po.timeout = options_.timeout;
  po.env = options_.env;
  return run_process(argv, po);
}

std::string SlurmCommandClient::submit(const GroupSubmission& s) {
  check_export_value("The backbone name", s.backbone_name);
  if (s.backbone_name.empty()) throw Error(ErrorCode::invalid, "sbatch: no backbone name");
  std::string exports = "--export=ALL,TRELLIS_BACKBONE=" + s.backbone_name;
  if (!s.backbone_sha256.empty()) exports += ",TRELLIS_BACKBONE_SHA256=" + s.backbone_sha256;
  bool url_in_env = false;
  for (const auto& [k, v] : options_.env) url_in_env = url_in_env || k == "TRELLIS_COORDINATOR_URL";
  if (!url_in_env && !options_.coordinator_url.empty()) {
    check_export_value("The coordinator URL", options_.coordinator_url);
    exports += ",TRELLIS_COORDINATOR_URL=" + options_.coordinator_url;
  }
  std::vector<std::string> argv{options_.sbatch, "--parsable", "--job-name=trellis-" + s.backbone_name, exports};
  argv.insert(argv.end(), options_.sbatch_args.begin(), options_.sbatch_args.end());
  argv.push_back(options_.sbatch_script.string());
  const ProcessResult r = run(argv);
  if (!r.ok()) throw Error(ErrorCode::unavailable, "sbatch failed (" + r.describe() + "): " + excerpt(r));
  // --parsable: "<id>" or "<id>;<cluster>" on the first line.
  std::string line = trim(r.out);
  if (const auto nl = line.find('\n'); nl != std::string::npos) line = trim(line.substr(0, nl));
  std::string id = line.substr(0, line.find(';'));
  if (!valid_slurm_job_id(id))
    throw Error(ErrorCode::unavailable, "sbatch printed no job id: '" + line.substr(0, 100) + "'");
  return id;
}

void SlurmCommandClient::cancel(const std::string& job_id) {
  if (!valid_slurm_job_id(job_id))
    throw Error(ErrorCode::invalid, "scancel: bad job id '" + job_id.substr(0, 80) + "'");
  const ProcessResult r = run({options_.scancel, job_id});
  if (!r.ok())
    throw Error(ErrorCode::unavailable, "scancel " + job_id + " failed (" + r.describe() + "): " + excerpt(r));
}

std::map<std::string, LaunchState> SlurmCommandClient::states(const std::vector<std::string>& job_ids) {
  std::map<std::string, LaunchState> out;
  if (job_ids.empty()) return out;
  std::string list;
  for (const auto& id : job_ids) {
    if (!valid_slurm_job_id(id)) continue;  // cannot be listed: counts as ended
    list += (list.empty() ? "" : ",") + id;
  }
  if (list.empty()) return out;
  const ProcessResult r = run({options_.squeue, "-h", "-j", list, "-o", "%i %T"});
  if (!r.ok()) {
    // squeue refuses a list whose jobs are all unknown (purged after they ended).
    if (!r.timed_out && r.signal == 0 && r.err.find("Invalid job id") != std::string::npos) return out;
    throw Error(ErrorCode::unavailable, "squeue failed (" + r.describe() + "): " + excerpt(r));
  }
  const std::set<std::string> asked(job_ids.begin(), job_ids.end());
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string id, state;
    if (!(fields >> id >> state)) continue;
    // An array or heterogeneous job's parts ("12_3", "12+1") belong to the job asked for.
    const std::string base = id.substr(0, id.find_first_of("_+"));
    const std::string key = asked.count(id) ? id : base;
    if (!asked.count(key)) continue;
    const LaunchState s = launch_state_of(state);
    auto it = out.find(key);
    // Of several parts, the least ended one counts.
    if (it == out.end() || (s != LaunchState::ended && it->second == LaunchState::ended) ||
        (s == LaunchState::running && it->second == LaunchState::pending))
      out[key] = s;
  }
  return out;
}

}  // namespace trellis
