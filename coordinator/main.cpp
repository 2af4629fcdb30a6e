// trellis-coordinator: the control plane's HTTP API: the job queue (SQLite), uploaded data files,
// the worker protocol and the adapter registry (PROTOCOL.md in coordinator/api/).
// Parse options -> Coordinator (coordinator/app/coordinator.h: registry, store, files, tokens, job
// service, routes, server) -> start, print the listening line -> run until SIGINT/SIGTERM.
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/error.h"
#include "coordinator/app/coordinator.h"

int main(int argc, char** argv) {
  CLI::App app{"trellis-coordinator: the Trellis control plane: job queue, worker protocol, adapter registry"};
  trellis::CoordinatorOptions o;
  app.add_option("--listen", o.listen, "HOST:PORT to listen on (port 0: an ephemeral port)")->capture_default_str();
  app.add_option("--registry", o.registry, "Adapter registry root")->required();
  app.add_flag("--create-registry", o.create_registry, "Create the registry root if it does not exist yet");
  app.add_option("--auth-config", o.auth_config,
                 "JSON file: {\"tokens\": [{\"token\": ..., \"role\": user|worker|admin}]}")
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
    trellis::parse_env_pairs(o.launcher_env);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const trellis::Error& e) {
    std::cerr << "trellis-coordinator: " << e.what() << "\n";
    return 2;
  }
  try {
    trellis::Coordinator coordinator(o);
    coordinator.start();
    coordinator.stop_on_signals();
    std::cout << coordinator.banner().dump() << std::endl;
    coordinator.run();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "trellis-coordinator: error: " << e.what() << "\n";
    return 1;
  }
}
