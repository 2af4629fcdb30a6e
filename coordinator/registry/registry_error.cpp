#include "coordinator/registry/registry_error.h"

namespace trellis {

std::string to_string(RegistryErrorKind kind) {
  switch (kind) {
    case RegistryErrorKind::invalid: return "invalid";
    case RegistryErrorKind::not_found: return "not_found";
    case RegistryErrorKind::conflict: return "conflict";
    case RegistryErrorKind::broken: return "broken";
    case RegistryErrorKind::io: return "io";
  }
  return "unknown";
}

}  // namespace trellis
