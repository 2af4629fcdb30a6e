#include "common/unique_name.h"

#include <unistd.h>

#include <cstdio>
#include <random>

namespace trellis {

std::string unique_name() {
  char host[64] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::string h;
  for (const char* p = host; *p && h.size() < 32; ++p) {  // keep it a safe file name
    const char c = *p;
    h += ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') ? c : '_';
  }
  if (h.empty()) h = "host";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "-%ld-%016llx", static_cast<long>(::getpid()), static_cast<unsigned long long>(rng()));
  return h + buf;
}

}  // namespace trellis
