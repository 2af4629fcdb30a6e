#pragma once
// Trellis' single exception type for bad input and failed operations, with a code that says
// which kind of failure it is. Every library throws it (never a type of its own); the
// coordinator maps the code to one HTTP status (http::error_response, coordinator/http/
// json_response.h); the executables print the message and exit non-zero.
// Contract: the message names the file, field or line at fault and reads as a complete sentence
// for the user. An Error built without a code is `internal`: a failure no layer classified
// (a boundary that knows better, like the registry's or the store's, re-codes it).
#include <stdexcept>
#include <string>

namespace trellis {

enum class ErrorCode {
  invalid,      // bad input: a field, file, line or name the caller can fix       (HTTP 400)
  not_found,    // no such job, group, file, task, version or alias                 (404)
  conflict,     // the state forbids it: a transition, a stale lease, a reused key  (409)
  unavailable,  // a peer or resource is down for now: retrying later may succeed   (503)
  broken,       // stored data is unreadable or fails its checks (never served)     (500)
  io,           // the filesystem or the database failed (the system's reason)      (500)
  internal,     // anything else                                                    (500)
};

// "invalid", "not_found", "conflict", "unavailable", "broken", "io", "internal".
const char* to_string(ErrorCode code);

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : Error(ErrorCode::internal, message) {}
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace trellis
