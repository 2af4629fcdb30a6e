#pragma once
// Removal of what crashed publishers and alias writers leave behind: entries of
// <root>/<task>/.staging/ and temporaries aliases/.tmp-* not modified for longer than max_age.
// Nothing visible (versions, aliases, tombstones) is ever touched.
//
// Call it at start-up (and, if wanted, periodically) with a max_age well above the longest publish
// (the default one hour): a live publish older than that would lose its staging directory and fail
// (cleanly: it never becomes visible). Ages compare the file server's modification times with
// `now`, so max_age must also cover clock skew between hosts. Thread-safe and process-safe
// (concurrent sweeps only race to remove the same entries).
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace trellis {

class RegistryLayout;

struct SweepReport {
  std::vector<std::filesystem::path> removed;
  std::vector<std::string> failures;  // entries that could not be removed, with the reason
};

// Throws Error(io) if the root cannot be listed.
SweepReport sweep_staging(const RegistryLayout& layout, std::chrono::system_clock::duration max_age,
                          std::chrono::system_clock::time_point now);

}  // namespace trellis
