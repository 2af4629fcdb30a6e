// The job commands: `trellis submit | jobs | status | events | cancel`, clients of the
// coordinator's job API (coordinator/api/PROTOCOL.md). No LibTorch.
//
// Exit codes (also in each command's help):
//   0  ok (submit --follow / events -f: the job succeeded)
//   1  error: network, an HTTP error status (the server's message and the status are printed),
//      bad input (unreadable spec, missing data file, no server configured)
//   2  usage (bad or missing arguments)
//   3  the followed job failed
//   4  the followed job was cancelled
//
// The server URL and the token file: --server / --token-file, else TRELLIS_SERVER /
// TRELLIS_TOKEN_FILE, else the client config file (cli/server_client.h). The token is never printed.
//
// submit uploads local data files (POST /v1/files) and puts "file:<sha256>" in their place; it
// checks that the id the server returns is the sha256 of the bytes it sent. The job POST always
// carries an Idempotency-Key (--idempotency-key, else a random one) so that the one retry after a
// network error cannot create a second job.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/job_view.h"
#include "cli/server_client.h"
#include "protocol/coordinator_client.h"
#include "common/files.h"
#include "common/sha256.h"
#include "trainer/data/data_reference.h"
#include "common/error.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int kExitOk = 0;
constexpr int kExitJobFailed = 3;
constexpr int kExitJobCancelled = 4;
constexpr int kFollowWaitSeconds = 20;
constexpr int kMaxNetworkRetries = 5;  // consecutive failed long polls before giving up

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 ok (with --follow: the job succeeded), 1 error (network, server error, bad input), "
    "2 usage, 3 the followed job failed, 4 the followed job was cancelled.";

// Job ids go into URL paths: only the characters an id can hold (PROTOCOL: "j-" + 32 hex).
const CLI::Validator kJobId(
    [](std::string& id) -> std::string {
      if (id.empty() || id.size() > 128 || !std::all_of(id.begin(), id.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
          }))
        return "'" + id + "' is not a job id (j-<32 hex>)";
      return {};
    },
    "JOB_ID");

const CLI::Validator kIdempotencyKey(
    [](std::string& key) -> std::string {
      if (key.empty() || key.size() > 128 ||
          !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
        return "an idempotency key is 1 to 128 printable characters (no spaces)";
      return {};
    },
    "KEY");

std::string random_key() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "cli-%08x%08x%08x%08x", rd(), rd(), rd(), rd());
  return buf;
}

// A call that is safe to repeat (a content-addressed upload, a keyed job submission): retried once
// when the coordinator could not be reached or answered 5xx.
template <class F>
auto retrying_once(const std::string& what, bool quiet, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::unavailable) throw;
    if (!quiet) std::cerr << "trellis: " << what << ": " << e.what() << "; retrying once\n";
    std::this_thread::sleep_for(std::chrono::seconds(1));
    return f();
  }
}

// Uploads a local file; returns its id, checked to be the sha256 of the bytes sent.
std::string upload_file(protocol::CoordinatorClient& client, const fs::path& path, bool quiet) {
  const std::string bytes = read_text_file(path);
  const std::string sha = sha256_hex(std::string_view(bytes));
  std::string name = path.filename().string();
  name.erase(std::remove_if(name.begin(), name.end(), [](char c) { return c < 0x20 || c == 0x7f; }), name.end());
  const std::string what = "POST /v1/files (" + path.string() + ")";
  protocol::FileStored stored;
  try {
    stored = retrying_once(what, quiet, [&] { return client.upload_file(bytes, name); });
  } catch (const Error& e) {
    throw Error(e.code(), path.string() + ": " + e.what());
  }
  if (stored.id != sha)
    throw Error(what + ": the server named the upload '" + stored.id + "', but the sha256 of the bytes sent is " + sha);
  if (!quiet)
    std::cerr << "trellis: uploaded " << path.string() << " (" << bytes.size() << " bytes) as file:" << stored.id
              << "\n";
  return stored.id;
}

// Replaces data.<field> by "file:<id>" after uploading it when it names a local file. `override_path`
// (from --train / --validation) is relative to the working directory, a spec path to the spec's directory.
void resolve_data_file(protocol::CoordinatorClient& client, json& spec, const char* field,
                       const std::string& override_path, const fs::path& spec_file, bool quiet) {
  fs::path base = fs::absolute(spec_file).parent_path();
  if (!override_path.empty()) {
    if (!spec.contains("data") || spec["data"].is_null()) spec["data"] = json::object();
    if (!spec["data"].is_object()) throw Error(spec_file.string() + ": field 'data' must be an object");
    spec["data"][field] = override_path;
    base = fs::current_path();
  }
  if (!spec.contains("data") || !spec["data"].is_object()) return;
  json& data = spec["data"];
  if (!data.contains(field) || !data[field].is_string()) return;  // absent or malformed: the server says what is wrong
  const std::string value = data[field].get<std::string>();
  if (is_file_data_reference(value)) return;  // already on the server
  fs::path path(value);
  if (path.is_relative()) path = (base / path).lexically_normal();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    if (is_sha256_hex(value)) return;  // a bare file id, as the coordinator accepts
    throw Error(std::string(override_path.empty() ? spec_file.string() + ": data." : "--") + field + ": '" +
                path.string() + "' is not a readable file");
  }
  // The reference keeps the format (the readers choose by extension): "file:<id>.jsonl".
  data[field] = data_reference_for(upload_file(client, path, quiet), path).canonical();
}

// Shows a followed job's events: a live one-line bar on a terminal, plain lines otherwise.
class FollowDisplay {
 public:
  FollowDisplay(bool quiet, int64_t batch_size) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {
    progress_.batch_size = batch_size;
  }
  void on_event(const protocol::EventMessage& event) {
    progress_.update(event);
    if (quiet_) return;
    const EventKind kind = event.kind;
    const json& payload = event.payload;
    const bool training_metrics = kind == EventKind::metrics && payload.contains("metrics") &&
                                  payload["metrics"].is_object() && payload["metrics"].contains("loss");
    if (tty_) {
      if (kind == EventKind::state || kind == EventKind::error || (kind == EventKind::metrics && !training_metrics))
        std::cerr << "\r\x1b[K" << jobview::format_event(event) << "\n";
      std::cerr << "\r\x1b[K" << progress_.bar() << std::flush;
      bar_shown_ = true;
    } else if (kind != EventKind::progress) {
      // A log, not a terminal: training metrics at most every kPlainMetricsEvery, the rest always.
      const auto now = std::chrono::steady_clock::now();
      if (training_metrics && now - last_plain_metrics_ < kPlainMetricsEvery) return;
      if (training_metrics) last_plain_metrics_ = now;
      std::cerr << jobview::format_event(event) << "\n";
    }
  }
  void finish() {
    if (bar_shown_) std::cerr << "\n";
    bar_shown_ = false;
  }
  ~FollowDisplay() { finish(); }

 private:
  static constexpr std::chrono::seconds kPlainMetricsEvery{10};
  bool quiet_, tty_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point last_plain_metrics_{};
  jobview::Progress progress_;
};

// Reads events after `after` (long-polling until the job is terminal when `follow`), handing each
// to `on_event`; returns the job's state as of the last reply.
JobState read_events(protocol::CoordinatorClient& client, const std::string& id, int64_t after, bool follow,
                     const std::function<void(const protocol::EventMessage&)>& on_event) {
  int failures = 0;
  bool drain = false;
  for (;;) {
    protocol::EventPage page;
    try {
      page = follow ? client.events(id, after, drain ? 0 : kFollowWaitSeconds) : client.events(id, after);
    } catch (const Error& e) {
      if (!follow || e.code() != ErrorCode::unavailable || ++failures > kMaxNetworkRetries) throw;
      std::cerr << "trellis: " << e.what() << "; retrying\n";
      std::this_thread::sleep_for(std::chrono::seconds(std::min(1 << failures, 10)));
      continue;
    }
    failures = 0;
    for (const auto& event : page.events) {
      after = std::max(after, event.seq);
      on_event(event);
    }
    if (!follow) {
      if (page.events.size() >= 1000) continue;  // a full page: there may be more
      return page.state;
    }
    if (is_terminal(page.state)) {
      if (page.events.empty()) return page.state;
      drain = true;  // the rest of the events without waiting
    }
  }
}

int exit_code_for(JobState state) {
  if (state == JobState::failed) return kExitJobFailed;
  if (state == JobState::cancelled) return kExitJobCancelled;
  return kExitOk;
}

// Tells stderr how a followed job ended (unless it succeeded).
void report_end(const std::string& id, JobState state, const std::optional<protocol::ErrorInfo>& error) {
  if (state == JobState::failed) {
    std::cerr << "trellis: job " << id << " failed";
    if (error) std::cerr << ": " << error->code << ": " << error->message;
    std::cerr << "\n";
  } else if (state == JobState::cancelled) {
    std::cerr << "trellis: job " << id << " was cancelled\n";
  }
}

// The spec's batch size (for the ETA of the progress bar); the spec's default when not given.
int64_t spec_batch_size(const json& spec) {
  if (spec.contains("train") && spec["train"].is_object() && spec["train"].contains("batch_size") &&
      spec["train"]["batch_size"].is_number_integer())
    return spec["train"]["batch_size"].get<int64_t>();
  return 32;
}

void print_json_line(const json& j) { std::cout << j.dump() << std::endl; }

}  // namespace

CommandAction add_submit_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string spec, train, validation, idempotency_key;
    std::optional<int64_t> priority;
    std::optional<int64_t> max_attempts;
    bool follow = false, json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("submit", "Submit a training job to the coordinator (uploading its data files)");
  cmd->add_option("spec", args->spec, "Job spec (JSON, as for `trellis train`); local data paths are relative to it")
      ->required();
  cmd->add_option("--train", args->train, "Training data file to upload instead of the spec's data.train");
  cmd->add_option("--validation", args->validation,
                  "Validation data file to upload instead of the spec's data.validation");
  cmd->add_option("--priority", args->priority, "Queue priority (higher runs first)");
  cmd->add_option("--max-attempts", args->max_attempts, "Attempts before the job fails")->check(CLI::PositiveNumber);
  cmd->add_option("--idempotency-key", args->idempotency_key,
                  "Resubmitting with the same key returns the first job (default: a random key)")
      ->check(kIdempotencyKey);
  cmd->add_flag("-f,--follow", args->follow, "Follow the job until it ends; print its artifact (TASK@VERSION)");
  cmd->add_flag("--json", args->json, "Print the job as JSON (with --follow: the finished job)");
  add_server_options(*cmd, ctx);
  cmd->footer(kExitCodesHelp);
  return [args, &ctx]() {
    const fs::path spec_file(args->spec);
    json spec = read_json_file(spec_file);
    if (!spec.is_object()) throw Error(spec_file.string() + ": expected a JSON object (a job spec)");
    protocol::CoordinatorClient client = make_coordinator_client(ctx);
    resolve_data_file(client, spec, "train", args->train, spec_file, ctx.quiet);
    resolve_data_file(client, spec, "validation", args->validation, spec_file, ctx.quiet);

    protocol::SubmitEnvelope envelope;
    envelope.spec = spec;
    if (args->priority) envelope.priority = static_cast<int>(*args->priority);
    if (args->max_attempts) envelope.max_attempts = static_cast<int>(*args->max_attempts);
    const std::string key = args->idempotency_key.empty() ? random_key() : args->idempotency_key;
    const protocol::JobMessage job =
        retrying_once("POST /v1/jobs", ctx.quiet, [&] { return client.submit(envelope, key).job; });
    if (!args->follow) {
      if (args->json) print_json_line(job);
      else std::cout << job.id << std::endl;
      return kExitOk;
    }
    if (!args->json) std::cout << job.id << std::endl;
    {
      FollowDisplay display(ctx.quiet, spec_batch_size(job.spec));
      read_events(client, job.id, 0, true, [&](const protocol::EventMessage& e) { display.on_event(e); });
    }
    const protocol::JobMessage final_job = client.get_job(job.id);
    if (args->json) print_json_line(final_job);
    else if (final_job.state == JobState::succeeded) std::cout << jobview::artifact_or_error(final_job) << std::endl;
    report_end(final_job.id, final_job.state, final_job.error);
    return exit_code_for(final_job.state);
  };
}

CommandAction add_jobs_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string state, task;
    int64_t limit = 50;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("jobs", "List the coordinator's jobs (oldest first)");
  cmd->add_option("--state", args->state, "Only jobs in this state")
      ->check(CLI::IsMember({"queued", "leased", "running", "succeeded", "failed", "cancelled"}));
  cmd->add_option("--task", args->task, "Only jobs of this task");
  cmd->add_option("--limit", args->limit, "At most this many jobs (default 50)")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", args->json, "Print {\"jobs\": [...], \"next\": ID|null} as JSON");
  add_server_options(*cmd, ctx);
  cmd->footer(kExitCodesHelp);
  return [args, &ctx]() {
    protocol::CoordinatorClient client = make_coordinator_client(ctx);
    std::vector<protocol::JobMessage> jobs;
    std::optional<std::string> next;
    protocol::JobListQuery query;
    if (!args->state.empty()) query.state = parse_job_state(args->state);
    if (!args->task.empty()) query.task = args->task;
    while (static_cast<int64_t>(jobs.size()) < args->limit) {
      query.limit = static_cast<int>(std::min<int64_t>(args->limit - static_cast<int64_t>(jobs.size()), 1000));
      protocol::JobPage page = client.list_jobs(query);
      jobs.insert(jobs.end(), page.jobs.begin(), page.jobs.end());
      next = page.next;
      if (!next || page.jobs.empty()) break;
      query.after = next;
    }
    if (static_cast<int64_t>(jobs.size()) > args->limit) {
      jobs.resize(static_cast<size_t>(args->limit));
      next = jobs.back().id;
    }
    if (args->json) {
      print_json_line(protocol::JobPage{jobs, next});
    } else {
      std::cout << jobview::format_job_table(jobs);
      if (next && !ctx.quiet) std::cerr << "trellis: more jobs after " << *next << " (raise --limit)\n";
    }
    return kExitOk;
  };
}

CommandAction add_status_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string id;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("status", "Show one job: state, queue position, progress, metrics, result");
  cmd->add_option("id", args->id, "Job id (j-<32 hex>)")->required()->check(kJobId);
  cmd->add_flag("--json", args->json, "Print the job object as JSON");
  add_server_options(*cmd, ctx);
  cmd->footer(kExitCodesHelp);
  return [args, &ctx]() {
    protocol::CoordinatorClient client = make_coordinator_client(ctx);
    const protocol::JobMessage job = client.get_job(args->id);
    if (args->json) print_json_line(job);
    else std::cout << jobview::format_job_status(job) << std::flush;
    return kExitOk;
  };
}

CommandAction add_events_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string id;
    int64_t after = 0;
    bool follow = false, json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("events", "Print a job's events (state changes, progress, metrics, errors)");
  cmd->add_option("id", args->id, "Job id (j-<32 hex>)")->required()->check(kJobId);
  cmd->add_option("--after", args->after, "Only events with a sequence number above N")->check(CLI::NonNegativeNumber);
  cmd->add_flag("-f,--follow", args->follow, "Keep waiting for events until the job ends (exit code: how it ended)");
  cmd->add_flag("--json", args->json, "One JSON object per event");
  add_server_options(*cmd, ctx);
  cmd->footer(kExitCodesHelp);
  return [args, &ctx]() {
    protocol::CoordinatorClient client = make_coordinator_client(ctx);
    const JobState state =
        read_events(client, args->id, args->after, args->follow, [&](const protocol::EventMessage& e) {
          if (args->json) print_json_line(e);
          else std::cout << jobview::format_event(e) << std::endl;
        });
    if (!args->follow) return kExitOk;
    report_end(args->id, state, std::nullopt);
    return exit_code_for(state);
  };
}

CommandAction add_cancel_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string id;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("cancel", "Cancel a job (a running one stops at its next heartbeat)");
  cmd->add_option("id", args->id, "Job id (j-<32 hex>)")->required()->check(kJobId);
  cmd->add_flag("--json", args->json, "Print the job object as JSON");
  add_server_options(*cmd, ctx);
  cmd->footer(kExitCodesHelp);
  return [args, &ctx]() {
    protocol::CoordinatorClient client = make_coordinator_client(ctx);
    const protocol::JobMessage job = client.cancel_job(args->id);
    if (args->json) {
      print_json_line(job);
    } else {
      std::cout << job.id << ": " << to_string(job.state);
      if (job.cancel_requested && !is_terminal(job.state))
        std::cout << " (cancel requested; the worker stops at its next heartbeat)";
      std::cout << std::endl;
    }
    return kExitOk;
  };
}

}  // namespace trellis
