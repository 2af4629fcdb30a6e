#include "worker/data_cache.h"

#include <string>

#include "trainer/spec/data_reference.h"

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

}  // namespace trellis
