#pragma once
// The registry's errors: a trellis::Error with a kind that the HTTP layer maps to a status.
//   invalid   -> 400  a bad task, alias, version or reference name, or a bad artifact to publish
//   not_found -> 404  no such task, version or alias; the message lists what exists
//   conflict  -> 409  an alias to a missing, deleted or broken version; deleting an aliased version
//   broken    -> 500  (or 422) the version's manifest or files are unreadable: never served
//   io        -> 500  the filesystem failed (the message names the path and the system's reason)
#include <string>

#include "trainer/util/error.h"

namespace trellis {

enum class RegistryErrorKind { invalid, not_found, conflict, broken, io };

std::string to_string(RegistryErrorKind kind);  // "invalid", "not_found", ...

class RegistryError : public Error {
 public:
  RegistryError(RegistryErrorKind kind, const std::string& message) : Error(message), kind_(kind) {}
  RegistryErrorKind kind() const { return kind_; }

 private:
  RegistryErrorKind kind_;
};

}  // namespace trellis
