#pragma once
// What a coordinator-mode worker leaves on disk, and its removal once unused for a while.
//
// The data cache of downloaded files: <cache>/<sha256> (the bytes, verified before they
// appear there) and links <cache>/<sha256>.<ext> naming their format (coordinator_jobs.h).
// A file's modification time is its last use: mark_data_used() when a job is about to use it;
// trim_data_cache() removes the files unused for a given time, and dead downloads
// (<sha256>.part-<pid>) as old. Links are kept: a link whose file was removed works again once
// the file is downloaded again. No LibTorch here.
//
// Groups sharing one cache (on a shared filesystem) need no lock: a job marks its files used
// before it reads them, and a trim checks the time again just before removing, so a file goes
// under a job only if it had been unused for the whole retention and was picked up in that
// instant.
#include <chrono>
#include <cstdint>
#include <filesystem>

namespace trellis {

struct DataCacheTrim {
  std::uint64_t files_removed = 0;
  std::uint64_t bytes_removed = 0;
};

void mark_data_used(const std::filesystem::path& file);  // errors ignored (the file may be gone)
DataCacheTrim trim_data_cache(const std::filesystem::path& cache, std::chrono::milliseconds unused_for);

// Checkpoints <job id>.ckpt (and their .tmp) in `checkpoint_dir` not written for `unused_for`:
// those of jobs that ended without success (a success or a cancel removes its own), or of a
// handed-back job queued that long, which then starts again from step 0. A job in training
// rewrites its checkpoint every few steps. Returns how many files were removed.
std::uint64_t trim_stale_checkpoints(const std::filesystem::path& checkpoint_dir, std::chrono::milliseconds unused_for);

}  // namespace trellis
