#include "worker/disk_retention.h"

#include <string>

#include "trainer/data/data_reference.h"

namespace trellis {

namespace fs = std::filesystem;

void mark_data_used(const fs::path& file) {
  std::error_code ec;
  fs::last_write_time(file, fs::file_time_type::clock::now(), ec);
}

DataCacheTrim trim_data_cache(const fs::path& cache, std::chrono::milliseconds unused_for) {
  DataCacheTrim result;
  const auto cutoff = fs::file_time_type::clock::now() - unused_for;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cache, ec)) {
    const std::string name = entry.path().filename().string();
    const bool data = is_sha256_hex(name);
    const bool dead_download = name.size() > 64 && is_sha256_hex(name.substr(0, 64)) &&
                               name.compare(64, 6, ".part-") == 0;
    std::error_code file_ec;
    if ((!data && !dead_download) || !entry.is_regular_file(file_ec)) continue;  // links stay
    if (fs::last_write_time(entry.path(), file_ec) >= cutoff || file_ec) continue;
    const auto bytes = fs::file_size(entry.path(), file_ec);
    const bool sized = !file_ec;
    // Checked again just before the removal: another group may have picked it up meanwhile.
    if (fs::last_write_time(entry.path(), file_ec) >= cutoff || file_ec) continue;
    if (fs::remove(entry.path(), file_ec)) {
      ++result.files_removed;
      if (sized) result.bytes_removed += bytes;
    }
  }
  return result;
}

namespace {

// "j-<32 hex>.ckpt" or "j-<32 hex>.ckpt.tmp": the coordinator's job ids (PROTOCOL.md).
bool is_job_checkpoint_name(const std::string& name) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (name.size() < 34 || name.compare(0, 2, "j-") != 0) return false;
  for (size_t i = 2; i < 34; ++i)
    if (!hex(name[i])) return false;
  const std::string rest = name.substr(34);
  return rest == ".ckpt" || rest == ".ckpt.tmp";
}

}  // namespace

std::uint64_t trim_stale_checkpoints(const fs::path& checkpoint_dir, std::chrono::milliseconds unused_for) {
  std::uint64_t removed = 0;
  const auto cutoff = fs::file_time_type::clock::now() - unused_for;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoint_dir, ec)) {
    std::error_code file_ec;
    if (!is_job_checkpoint_name(entry.path().filename().string()) || !entry.is_regular_file(file_ec)) continue;
    if (fs::last_write_time(entry.path(), file_ec) >= cutoff || file_ec) continue;
    if (fs::remove(entry.path(), file_ec)) ++removed;
  }
  return removed;
}

}  // namespace trellis
