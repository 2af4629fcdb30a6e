#include "coordinator/store/store_error.h"

namespace trellis {

std::string to_string(StoreErrorKind kind) {
  switch (kind) {
    case StoreErrorKind::invalid: return "invalid";
    case StoreErrorKind::not_found: return "not_found";
    case StoreErrorKind::conflict: return "conflict";
    case StoreErrorKind::io: return "io";
  }
  return "unknown";
}

}  // namespace trellis
