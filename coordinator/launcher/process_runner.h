#pragma once
// run_process: runs a program (posix_spawnp, never a shell) with stdin from /dev/null, captures
// its stdout and stderr, and kills it (its whole process group, SIGKILL) when it outlives the
// timeout. Used for sbatch, scancel and squeue.
// Thread-safe: any thread may call (the pipes are close-on-exec; the child gets only 0, 1, 2).
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace trellis {

struct ProcessOptions {
  std::chrono::milliseconds timeout{30'000};
  // Set (or replace) these in the child's environment, which is otherwise the caller's.
  std::vector<std::pair<std::string, std::string>> env;
  std::size_t max_output_bytes = 1u << 20;  // per stream; the rest is read and dropped
};

struct ProcessResult {
  int exit_code = -1;      // when it exited (else -1)
  int signal = 0;          // when a signal ended it
  bool timed_out = false;  // killed at the timeout
  std::string out;
  std::string err;
  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  std::string describe() const;  // "exit code 1", "killed by signal 9", "timed out after ..."
};

// argv[0] is looked up in PATH. Throws trellis::Error: unavailable when the program cannot be
// started (not found, not executable), invalid when argv is empty.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace trellis
