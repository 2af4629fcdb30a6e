#include "protocol/ids.h"

namespace trellis {

namespace {
bool prefixed_hex(const std::string& id, char prefix) {
  if (id.size() != 34 || id[0] != prefix || id[1] != '-') return false;
  for (size_t i = 2; i < id.size(); ++i) {
    const char c = id[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}
}  // namespace

bool valid_job_id(const std::string& id) { return prefixed_hex(id, 'j'); }
bool valid_group_id(const std::string& id) { return prefixed_hex(id, 'g'); }

}  // namespace trellis
