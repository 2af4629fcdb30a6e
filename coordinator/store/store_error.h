#pragma once
// The job store's errors: a trellis::Error with a kind that the HTTP layer maps to a status.
//   invalid   -> 400  a bad argument (limit out of range, unknown cursor, bad state name, ...)
//   not_found -> 404  no such job or group
//   conflict  -> 409  a transition the state machine forbids (cancel of a terminal job, a stale
//                     or expired lease, an idempotency key reused with a different request)
//   io        -> 500  the database failed (the message carries SQLite's reason)
#include <string>

#include "trainer/util/error.h"

namespace trellis {

enum class StoreErrorKind { invalid, not_found, conflict, io };

std::string to_string(StoreErrorKind kind);  // "invalid", "not_found", "conflict", "io"

class StoreError : public Error {
 public:
  StoreError(StoreErrorKind kind, const std::string& message) : Error(message), kind_(kind) {}
  StoreErrorKind kind() const { return kind_; }

 private:
  StoreErrorKind kind_;
};

}  // namespace trellis
