#include "coordinator/app/coordinator.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/error.h"
#include "common/periodic_thread.h"
#include "coordinator/api/adapter_routes.h"
#include "coordinator/api/file_retention.h"
#include "coordinator/api/job_api.h"
#include "coordinator/api/metrics.h"
#include "coordinator/http/http_server.h"
#include "coordinator/jobs/job_service.h"
#include "coordinator/launcher/launcher_thread.h"
#include "coordinator/store/sqlite_job_store.h"
#include "registry/artifact_registry.h"

namespace trellis {

namespace net = boost::asio;

std::vector<std::pair<std::string, std::string>> parse_env_pairs(const std::vector<std::string>& items) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    const std::string key = item.substr(0, eq);
    bool ok = eq != std::string::npos && !key.empty() && !std::isdigit(static_cast<unsigned char>(key[0]));
    for (char c : key) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ok)
      throw Error(ErrorCode::invalid, "--launcher-env: expected KEY=VALUE, got '" + item.substr(0, eq) + "=...'");
    out.emplace_back(key, item.substr(eq + 1));
  }
  return out;
}

namespace {

// The URL worker groups reach this coordinator at (a wildcard address: this host's name).
std::string coordinator_url(const net::ip::tcp::endpoint& ep) {
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

http::ServerOptions server_options(const CoordinatorOptions& o) {
  http::ServerOptions s;
  const auto colon = o.listen.rfind(':');
  if (colon == std::string::npos)
    throw Error(ErrorCode::invalid, "--listen: expected HOST:PORT, got '" + o.listen + "'");
  s.address = o.listen.substr(0, colon);
  if (s.address.size() > 2 && s.address.front() == '[' && s.address.back() == ']')
    s.address = s.address.substr(1, s.address.size() - 2);
  const std::string port = o.listen.substr(colon + 1);
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535)
    throw Error(ErrorCode::invalid, "--listen: bad port '" + port + "'");
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

std::function<void(const std::string&)> log_error(const char* what) {
  return [what](const std::string& e) { std::cerr << "trellis-coordinator: " << what << ": " << e << "\n"; };
}

}  // namespace

// Members in construction order: each may refer to those above it.
struct Coordinator::Parts {
  CoordinatorOptions o;
  std::unique_ptr<ArtifactRegistry> registry;
  SweepReport swept;
  http::TokenStore tokens;
  api::BackboneCatalog backbones;
  SystemClock clock;
  std::unique_ptr<SqliteJobStore> store;
  std::unique_ptr<api::FileStore> files;
  net::io_context ioc;
  std::unique_ptr<api::ChangeFeed> feed;
  std::unique_ptr<jobs::JobService> jobs;
  std::unique_ptr<api::JobApi> api;
  api::RequestMetrics request_metrics;
  std::unique_ptr<http::Router> router;
  std::unique_ptr<http::HttpServer> server;
  std::unique_ptr<LauncherThread> launcher;  // set in start(), before the I/O threads run
  std::optional<PeriodicThread> lease_expiry;
  std::optional<PeriodicThread> file_sweeps;
  std::optional<net::signal_set> signals;
  net::steady_timer drain{ioc};
  std::atomic<bool> stopping{false};
  bool started = false;

  // On the io_context: stops it once no connection is open, or at `until`.
  void stop_when_drained(std::chrono::steady_clock::time_point until) {
    if (server->open_connections() == 0 || std::chrono::steady_clock::now() >= until) return ioc.stop();
    drain.expires_after(std::chrono::milliseconds(50));
    drain.async_wait([this, until](boost::system::error_code) { stop_when_drained(until); });
  }

  explicit Parts(CoordinatorOptions options) : o(std::move(options)) {
    parse_env_pairs(o.launcher_env);
    registry = std::make_unique<ArtifactRegistry>(RegistryOptions{.root = o.registry, .create = o.create_registry});
    swept = registry->sweep_staging();
    for (const auto& f : swept.failures) std::cerr << "trellis-coordinator: sweep: " << f << "\n";
    tokens = http::TokenStore::from_file(o.auth_config);
    std::vector<std::string> warnings;
    const std::vector<std::filesystem::path> config_dirs(o.config_dirs.begin(), o.config_dirs.end());
    backbones = api::BackboneCatalog::from_config_dirs(config_dirs, &warnings);
    for (const auto& w : warnings) std::cerr << "trellis-coordinator: " << w << "\n";
    const std::filesystem::path state_dir(o.state_dir);
    std::filesystem::create_directories(state_dir);
    store = std::make_unique<SqliteJobStore>(state_dir / "jobs.db", clock);
    files = std::make_unique<api::FileStore>(state_dir / "files");
    feed = std::make_unique<api::ChangeFeed>(ioc.get_executor());
    jobs = std::make_unique<jobs::JobService>(*store, *registry,
                                              [f = feed.get()](const std::string& topic) { f->notify(topic); });
    api = std::make_unique<api::JobApi>(api::JobApi{*jobs, *store, *files, *feed, backbones, millis(o.lease_ttl_s),
                                                    millis(o.heartbeat_s), o.max_attempts});
    router = std::make_unique<http::Router>(tokens);
    router->set_observer([this](const std::string& route, http::beast_http::verb method, unsigned status,
                                double seconds) { request_metrics.observe(route, method, status, seconds); });
    api::add_health_route(*router);
    api::add_adapter_routes(*router, *registry);
    api::add_file_routes(*router, *api);
    api::add_job_routes(*router, *api);
    api::add_worker_routes(*router, *api);
    std::function<std::string()> launcher_metrics;
    if (!o.launcher.empty()) launcher_metrics = [this] { return launcher ? launcher->metrics() : std::string(); };
    api::add_metrics_route(*router, *api, request_metrics, 3 * api->lease_ttl, launcher_metrics);
    server = std::make_unique<http::HttpServer>(ioc, server_options(o), *router);
  }
};

Coordinator::Coordinator(CoordinatorOptions options) : parts_(std::make_unique<Parts>(std::move(options))) {}

Coordinator::~Coordinator() {
  stop();
  Parts& p = *parts_;
  if (p.launcher) p.launcher->stop();
  if (p.lease_expiry) p.lease_expiry->stop();
  if (p.file_sweeps) p.file_sweeps->stop();
}

void Coordinator::start() {
  Parts& p = *parts_;
  if (p.started) throw Error(ErrorCode::conflict, "the coordinator was started already");
  p.started = true;
  raise_open_file_limit();
  // Lease expiry: jobs of groups that stopped heart-beating go back to the queue.
  p.lease_expiry.emplace(
      millis(p.o.lease_expiry_interval_s),
      [&p] {
        for (const auto& id : p.jobs->expire_leases(p.clock.now()))
          std::cerr << "trellis-coordinator: lease of " << id << " expired\n";
      },
      log_error("lease expiry"));
  // Uploads unused for the retention time go.
  if (p.o.file_retention_days > 0) {
    const auto unused_for = millis(p.o.file_retention_days * 86400);
    p.file_sweeps.emplace(
        millis(p.o.file_sweep_interval_s),
        [&p, unused_for] {
          const api::SweepResult r = api::sweep_files(*p.api, unused_for);
          if (r.files_removed > 0)
            std::cerr << "trellis-coordinator: file retention: removed " << r.files_removed << " file(s), "
                      << r.bytes_removed << " bytes, unused for " << unused_for.count() / 1000 << " s\n";
        },
        log_error("file retention"));
  }
  p.server->start();
  if (!p.o.launcher.empty()) {
    // Launcher mode: sbatch/scancel/squeue run on the launcher's own thread; a submit wakes it.
    SlurmCommandOptions so;
    so.sbatch_script = p.o.sbatch_script;
    so.sbatch_args = p.o.sbatch_args;
    so.env = parse_env_pairs(p.o.launcher_env);
    so.coordinator_url = coordinator_url(p.server->local_endpoint());
    LauncherOptions lo;
    lo.max_groups = p.o.launcher_max_groups;
    lo.idle_timeout = millis(p.o.launcher_idle_timeout_s);
    lo.group_live_window = 3 * p.api->lease_ttl;
    p.launcher = std::make_unique<LauncherThread>(
        *p.store, std::move(so), p.clock, lo,
        [&p](const std::string& group_id, const JobError& error) { return p.jobs->release_group(group_id, error); },
        millis(p.o.launcher_poll_s));
    p.jobs->set_on_submitted([launcher = p.launcher.get()] { launcher->wake(); });
  }
}

void Coordinator::stop_on_signals() {
  Parts& p = *parts_;
  p.signals.emplace(p.ioc, SIGINT, SIGTERM);
  p.signals->async_wait([this](boost::system::error_code ec, int) {
    if (!ec) stop();
  });
}

void Coordinator::run() {
  Parts& p = *parts_;
  std::vector<std::thread> pool;
  for (int i = 1; i < p.o.threads; ++i) pool.emplace_back([&p] { p.ioc.run(); });
  p.ioc.run();
  for (auto& t : pool) t.join();
  if (p.launcher) p.launcher->stop();
  if (p.lease_expiry) p.lease_expiry->stop();
  if (p.file_sweeps) p.file_sweeps->stop();
  std::cerr << "trellis-coordinator: stopped\n";
}

void Coordinator::stop() {
  Parts& p = *parts_;
  if (p.stopping.exchange(true)) return;
  if (p.lease_expiry) p.lease_expiry->request_stop();
  if (p.file_sweeps) p.file_sweeps->request_stop();
  if (p.launcher) p.launcher->request_stop();  // joined after the I/O threads end
  // The server and the drain timer live on the io_context: stop them from one of its threads.
  net::post(p.ioc, [&p] {
    if (p.signals) p.signals->cancel();
    p.server->stop();
    p.stop_when_drained(std::chrono::steady_clock::now() + std::chrono::seconds(p.o.grace_seconds));
  });
}

net::ip::tcp::endpoint Coordinator::endpoint() const { return parts_->server->local_endpoint(); }

nlohmann::json Coordinator::banner() const {
  const Parts& p = *parts_;
  const auto ep = endpoint();
  return {{"listening", ep.address().to_string() + ":" + std::to_string(ep.port())},
          {"address", ep.address().to_string()},
          {"port", ep.port()},
          {"registry", p.registry->root().string()},
          {"swept", p.swept.removed.size()},
          {"state_dir", p.o.state_dir},
          {"backbones", p.backbones.names()},
          {"launcher", p.o.launcher.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.o.launcher)}};
}

}  // namespace trellis
