#pragma once
// A name no other writer on any host uses at the same time: "<host>-<pid>-<16 random hex>".
// For staging directories and temporary files on a shared filesystem (the creating call must
// still be exclusive, e.g. mkdir, in case of a collision). Thread-safe.
#include <string>

namespace trellis {

std::string unique_name();

}  // namespace trellis
