// trellis-coordinator: the control plane's HTTP API: the job queue (SQLite), uploaded data files,
// the worker protocol and the adapter registry (PROTOCOL.md in coordinator/api/).
// Parse options -> build (registry, store, files, tokens, router, server) -> run (with threads for
// lease expiry, file retention sweeps, and in launcher mode the launcher) -> stop on SIGINT/SIGTERM.
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/api/adapter_routes.h"
#include "coordinator/api/file_retention.h"
#include "coordinator/api/job_api.h"
#include "coordinator/api/metrics.h"
#include "coordinator/launcher/launcher_thread.h"
#include "coordinator/store/sqlite_job_store.h"
#include "coordinator/http/http_server.h"
#include "registry/artifact_registry.h"
#include "common/error.h"
#include "common/periodic_thread.h"

namespace {

struct Options {
  std::string listen = "127.0.0.1:8080";
  std::string registry;
  bool create_registry = false;
  std::string auth_config;
  std::string state_dir;
  std::vector<std::string> config_dirs;
  double lease_ttl_s = 30;
  double heartbeat_s = 5;
  int max_attempts = 3;
  std::size_t max_body_bytes = 64u << 20;
  // Handlers block on the store (a submit waits for its group commit's fsync): more threads than
  // cores let more submits share one commit.
  int threads = 16;
  int grace_seconds = 10;
  double file_retention_days = 30;  // 0: keep uploads forever
  double file_sweep_interval_s = 3600;
  // Launcher mode (off unless --launcher slurm).
  std::string launcher;
  std::string sbatch_script;
  int launcher_max_groups = 2;
  double launcher_idle_timeout_s = 300;
  double launcher_poll_s = 2;
  std::vector<std::string> sbatch_args;
  std::vector<std::string> launcher_env;
};

// KEY=VALUE pairs of --launcher-env (KEY: a shell variable name).
std::vector<std::pair<std::string, std::string>> parse_env_pairs(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    bool ok = eq != std::string::npos && !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0]));
    for (char c : key) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok) throw trellis::Error("--launcher-env: expected KEY=VALUE, got '" + item.substr(0, eq) + "=...'");
    out.emplace_back(key, item.substr(eq + 1));
  }
  return out;
}

// The URL worker groups reach this coordinator at (a wildcard address: this host's name).
std::string coordinator_url(const boost::asio::ip::tcp::endpoint& ep) {
  std::string host = ep.address().to_string();
  if (ep.address().is_unspecified()) {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    host = name;
  } else if (ep.address().is_v6()) {
    host = "[" + host + "]";
  }
  return "http://" + host + ":" + std::to_string(ep.port());
}

trellis::http::ServerOptions server_options(const Options& o) {
  trellis::http::ServerOptions s;
  const auto colon = o.listen.rfind(':');
  if (colon == std::string::npos) throw trellis::Error("--listen: expected HOST:PORT, got '" + o.listen + "'");
  s.address = o.listen.substr(0, colon);
  if (s.address.size() > 2 && s.address.front() == '[' && s.address.back() == ']')
    s.address = s.address.substr(1, s.address.size() - 2);
  const std::string port = o.listen.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) throw trellis::Error("--listen: bad port '" + port + "'");
  s.port = static_cast<unsigned short>(p);
  s.max_body_bytes = o.max_body_bytes;
  return s;
}

// Idle keep-alive connections and long-polls each hold a descriptor: use the hard limit.
void raise_open_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

int serve(const Options& o) {
  namespace net = boost::asio;
  trellis::RegistryOptions registry_options;
  registry_options.root = o.registry;
  registry_options.create = o.create_registry;
  trellis::ArtifactRegistry registry(std::move(registry_options));
  const trellis::SweepReport swept = registry.sweep_staging();
  for (const auto& f : swept.failures) std::cerr << "trellis-coordinator: sweep: " << f << "\n";
  const trellis::http::TokenStore tokens = trellis::http::TokenStore::from_file(o.auth_config);
  std::vector<std::string> warnings;
  std::vector<std::filesystem::path> config_dirs(o.config_dirs.begin(), o.config_dirs.end());
  const auto backbones = trellis::api::BackboneCatalog::from_config_dirs(config_dirs, &warnings);
  for (const auto& w : warnings) std::cerr << "trellis-coordinator: " << w << "\n";
  const std::filesystem::path state_dir(o.state_dir);
  std::filesystem::create_directories(state_dir);
  trellis::SystemClock clock;
  trellis::SqliteJobStore store(state_dir / "jobs.db", clock);
  trellis::api::FileStore files(state_dir / "files");
  raise_open_file_limit();

  net::io_context ioc;
  trellis::api::ChangeFeed feed(ioc.get_executor());
  trellis::jobs::JobService jobs(store, registry, [&feed](const std::string& topic) { feed.notify(topic); });
  trellis::api::JobApi api{jobs,       store, files, feed, backbones, millis(o.lease_ttl_s), millis(o.heartbeat_s),
                           o.max_attempts};
  trellis::api::RequestMetrics request_metrics;
  trellis::http::Router router(tokens);
  router.set_observer([&request_metrics](const std::string& route, trellis::http::beast_http::verb method,
                                         unsigned status, double seconds) {
    request_metrics.observe(route, method, status, seconds);
  });
  trellis::api::add_health_route(router);
  trellis::api::add_adapter_routes(router, registry);
  trellis::api::add_file_routes(router, api);
  trellis::api::add_job_routes(router, api);
  trellis::api::add_worker_routes(router, api);
  std::unique_ptr<trellis::LauncherThread> launcher;  // set before the I/O threads start
  std::function<std::string()> launcher_metrics;
  if (!o.launcher.empty()) launcher_metrics = [&launcher] { return launcher ? launcher->metrics() : std::string(); };
  trellis::api::add_metrics_route(router, api, request_metrics, 3 * api.lease_ttl, launcher_metrics);
  trellis::http::HttpServer server(ioc, server_options(o), router);

  // Lease expiry: jobs of groups that stopped heart-beating go back to the queue.
  // Background work on threads of their own, stopped by the signal handler, joined at the end.
  const auto log_error = [](const char* what) {
    return [what](const std::string& e) { std::cerr << "trellis-coordinator: " << what << ": " << e << "\n"; };
  };
  trellis::PeriodicThread lease_expiry(
      std::chrono::milliseconds(500),
      [&] {
        for (const auto& id : jobs.expire_leases(clock.now()))
          std::cerr << "trellis-coordinator: lease of " << id << " expired\n";
      },
      log_error("lease expiry"));
  // Uploads unused for the retention time go.
  std::optional<trellis::PeriodicThread> file_sweeps;
  if (o.file_retention_days > 0) {
    const auto unused_for = millis(o.file_retention_days * 86400);
    file_sweeps.emplace(
        millis(o.file_sweep_interval_s),
        [&api, unused_for] {
          const trellis::api::SweepResult r = trellis::api::sweep_files(api, unused_for);
          if (r.files_removed > 0)
            std::cerr << "trellis-coordinator: file retention: removed " << r.files_removed << " file(s), "
                      << r.bytes_removed << " bytes, unused for " << unused_for.count() / 1000 << " s\n";
        },
        log_error("file retention"));
  }
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  net::steady_timer drain(ioc);
  std::function<void(std::chrono::steady_clock::time_point)> wait_drained;
  wait_drained = [&](std::chrono::steady_clock::time_point until) {
    if (server.open_connections() == 0 || std::chrono::steady_clock::now() >= until) return ioc.stop();
    drain.expires_after(std::chrono::milliseconds(50));
    drain.async_wait([&, until](boost::system::error_code) { wait_drained(until); });
  };
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    lease_expiry.request_stop();
    if (file_sweeps) file_sweeps->request_stop();
    if (launcher) launcher->request_stop();  // joined after the I/O threads end
    server.stop();
    wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(o.grace_seconds));
  });
  server.start();
  const auto ep = server.local_endpoint();
  if (!o.launcher.empty()) {
    // Launcher mode: sbatch/scancel/squeue run on the launcher's own thread; a submit wakes it.
    trellis::SlurmCommandOptions so;
    so.sbatch_script = o.sbatch_script;
    so.sbatch_args = o.sbatch_args;
    so.env = parse_env_pairs(o.launcher_env);
    so.coordinator_url = coordinator_url(ep);
    trellis::LauncherOptions lo;
    lo.max_groups = o.launcher_max_groups;
    lo.idle_timeout = millis(o.launcher_idle_timeout_s);
    lo.group_live_window = 3 * api.lease_ttl;
    launcher = std::make_unique<trellis::LauncherThread>(
        store, std::move(so), clock, lo,
        [&jobs](const std::string& group_id, const trellis::JobError& error) {
          return jobs.release_group(group_id, error);
        },
        millis(o.launcher_poll_s));
    jobs.set_on_submitted([&launcher] { launcher->wake(); });
  }
  std::cout << nlohmann::json{{"listening", ep.address().to_string() + ":" + std::to_string(ep.port())},
                              {"address", ep.address().to_string()}, {"port", ep.port()},
                              {"registry", registry.root().string()}, {"swept", swept.removed.size()},
                              {"state_dir", state_dir.string()}, {"backbones", backbones.names()},
                              {"launcher", o.launcher.empty() ? nlohmann::json(nullptr) : nlohmann::json(o.launcher)}}
                   .dump()
            << std::endl;
  std::vector<std::thread> pool;
  for (int i = 1; i < o.threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  if (launcher) launcher->stop();
  lease_expiry.stop();
  if (file_sweeps) file_sweeps->stop();
  std::cerr << "trellis-coordinator: stopped\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trellis-coordinator: the Trellis control plane: job queue, worker protocol, adapter registry"};
  Options o;
  app.add_option("--listen", o.listen, "HOST:PORT to listen on (port 0: an ephemeral port)")->capture_default_str();
  app.add_option("--registry", o.registry, "Adapter registry root")->required();
  app.add_flag("--create-registry", o.create_registry, "Create the registry root if it does not exist yet");
  app.add_option("--auth-config", o.auth_config, "JSON file: {\"tokens\": [{\"token\": ..., \"role\": user|worker|admin}]}")
      ->required();
  app.add_option("--state-dir", o.state_dir, "Directory for the job database (jobs.db) and uploaded files (files/)")
      ->required();
  o.config_dirs = {TRELLIS_DEFAULT_CONFIG_DIR};
  app.add_option("--config-dir", o.config_dirs, "Directories holding backbones/<name>.json: the backbones served")
      ->capture_default_str();
  app.add_option("--lease-ttl", o.lease_ttl_s, "Seconds a lease lives without a heartbeat")
      ->capture_default_str()
      ->check(CLI::Range(0.2, 3600.0));
  app.add_option("--heartbeat", o.heartbeat_s, "Seconds between a group's heartbeats (told to groups)")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 600.0));
  app.add_option("--max-attempts", o.max_attempts, "Default attempts per job (a job's max_attempts overrides)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--max-body-bytes", o.max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "I/O and handler threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--grace-seconds", o.grace_seconds, "On SIGTERM, how long responses in flight may finish")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--file-retention-days", o.file_retention_days,
                 "Uploaded files unused this long (and not data of a live job) are removed; 0: never")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber)
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            double days = 0;
            try {
              days = std::stod(value);
            } catch (const std::exception&) {
              return "not a number: " + value;
            }
            return days == 0 || days * 86400 >= 1 ? "" : "must be 0 (never) or at least one second (1.2e-5)";
          },
          "0 or >= 1 s"));
  app.add_option("--file-sweep-interval", o.file_sweep_interval_s, "Seconds between file retention sweeps")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 86400.0));
  app.add_option("--launcher", o.launcher,
                 "Launcher mode: submit worker groups to Slurm while jobs wait for a backbone (off by default)")
      ->check(CLI::IsMember({"slurm"}));
  app.add_option("--sbatch-script", o.sbatch_script, "Launcher: the batch script that runs one worker group")
      ->check(CLI::ExistingFile);
  app.add_option("--launcher-max-groups", o.launcher_max_groups, "Launcher: most launched groups pending or running")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  app.add_option("--launcher-idle-timeout", o.launcher_idle_timeout_s,
                 "Launcher: scancel a launched group idle (no lease) this many seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("--launcher-poll", o.launcher_poll_s, "Launcher: seconds between squeue polls and decisions")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 3600.0));
  app.add_option("--sbatch-arg", o.sbatch_args, "Launcher: an extra sbatch argument (repeatable), e.g. --partition=gpu")
      ->allow_extra_args(false);
  app.add_option("--launcher-env", o.launcher_env,
                 "Launcher: KEY=VALUE put into sbatch's environment (exported to the job; repeatable), e.g. "
                 "TRELLIS_TOKEN_FILE=/shared/worker.token")
      ->allow_extra_args(false);
  try {
    app.parse(argc, argv);
    if (!o.launcher.empty() && o.sbatch_script.empty())
      throw CLI::ValidationError("--sbatch-script", "is required with --launcher slurm");
    if (o.launcher.empty() && (!o.sbatch_script.empty() || !o.sbatch_args.empty() || !o.launcher_env.empty()))
      throw CLI::ValidationError("--sbatch-script/--sbatch-arg/--launcher-env", "need --launcher slurm");
    parse_env_pairs(o.launcher_env);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const trellis::Error& e) {
    std::cerr << "trellis-coordinator: " << e.what() << "\n";
    return 2;
  }
  try {
    return serve(o);
  } catch (const std::exception& e) {
    std::cerr << "trellis-coordinator: error: " << e.what() << "\n";
    return 1;
  }
}
