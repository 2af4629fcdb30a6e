// trellis-coordinator: the control plane's HTTP API (so far: the adapter registry).
// Parse options -> build (registry, tokens, router, server) -> run -> stop on SIGINT/SIGTERM.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/api/adapter_routes.h"
#include "coordinator/http/http_server.h"
#include "coordinator/registry/artifact_registry.h"
#include "trainer/util/error.h"

namespace {

struct Options {
  std::string listen = "127.0.0.1:8080";
  std::string registry;
  std::string auth_config;
  std::size_t max_body_bytes = 1 << 20;
  int threads = 2;
  int grace_seconds = 10;
};

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

int serve(const Options& o) {
  namespace net = boost::asio;
  trellis::RegistryOptions registry_options;
  registry_options.root = o.registry;
  trellis::ArtifactRegistry registry(std::move(registry_options));
  const trellis::SweepReport swept = registry.sweep_staging();
  for (const auto& f : swept.failures) std::cerr << "trellis-coordinator: sweep: " << f << "\n";
  const trellis::http::TokenStore tokens = trellis::http::TokenStore::from_file(o.auth_config);
  trellis::http::Router router(tokens);
  trellis::api::add_health_route(router);
  trellis::api::add_adapter_routes(router, registry);

  net::io_context ioc;
  trellis::http::HttpServer server(ioc, server_options(o), router);
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
    server.stop();
    wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(o.grace_seconds));
  });
  server.start();
  const auto ep = server.local_endpoint();
  std::cout << nlohmann::json{{"listening", ep.address().to_string() + ":" + std::to_string(ep.port())},
                              {"address", ep.address().to_string()}, {"port", ep.port()},
                              {"registry", registry.root().string()}, {"swept", swept.removed.size()}}
                   .dump()
            << std::endl;
  std::vector<std::thread> pool;
  for (int i = 1; i < o.threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  std::cerr << "trellis-coordinator: stopped\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trellis-coordinator: the Trellis control plane's HTTP API (adapter registry)"};
  Options o;
  app.add_option("--listen", o.listen, "HOST:PORT to listen on (port 0: an ephemeral port)")->capture_default_str();
  app.add_option("--registry", o.registry, "Adapter registry root")->required();
  app.add_option("--auth-config", o.auth_config, "JSON file: {\"tokens\": [{\"token\": ..., \"role\": user|worker|admin}]}")
      ->required();
  app.add_option("--max-body-bytes", o.max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "I/O threads")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--grace-seconds", o.grace_seconds, "On SIGTERM, how long responses in flight may finish")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    return serve(o);
  } catch (const std::exception& e) {
    std::cerr << "trellis-coordinator: error: " << e.what() << "\n";
    return 1;
  }
}
