#pragma once
// Trellis' single exception type for bad input and failed operations.
// Contract: the message names the file, field or line at fault and reads as a complete
// sentence for the user; executables catch it at their edge, print it and exit non-zero.
#include <stdexcept>
#include <string>

namespace trellis {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace trellis
