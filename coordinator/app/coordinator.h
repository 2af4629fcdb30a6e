#pragma once
// Coordinator: the whole control plane of trellis-coordinator in one object, built from
// CoordinatorOptions, so that tests run it in-process: the registry, the job store (SQLite), the
// uploaded files, the tokens, the job service, the routes and the HTTP server, the lease-expiry
// and file-retention threads, and in launcher mode the Slurm launcher.
// Call order: construct (opens everything; throws trellis::Error naming the bad option or file),
// start() once (binds the port, starts the background threads and the launcher), then run() on one
// thread (it serves with options.threads threads, this one included, until stop()), then destroy.
// Thread-safety: stop() may be called from any thread (a signal handler's io thread included), any
// number of times; endpoint() and banner() after start().
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/app/coordinator_options.h"

namespace trellis {

class Coordinator {
 public:
  explicit Coordinator(CoordinatorOptions options);
  ~Coordinator();
  Coordinator(const Coordinator&) = delete;
  Coordinator& operator=(const Coordinator&) = delete;

  void start();
  // Also stops on SIGINT and SIGTERM (the executable's behaviour); call before run().
  void stop_on_signals();
  void run();
  // Stops accepting, lets responses in flight finish for up to grace_seconds, stops the threads.
  void stop();

  boost::asio::ip::tcp::endpoint endpoint() const;
  // The line trellis-coordinator prints once listening: {"listening", "address", "port", ...}.
  nlohmann::json banner() const;

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

// KEY=VALUE pairs of launcher_env (KEY: a shell variable name); Error(invalid) naming a bad one.
std::vector<std::pair<std::string, std::string>> parse_env_pairs(const std::vector<std::string>& items);

}  // namespace trellis
