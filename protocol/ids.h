#pragma once
// The id formats of the wire protocol: jobs "j-" and groups "g-", each + 32 lowercase hex digits
// (128 random bits; coordinator/store/job.h makes them). Pure functions: thread-safe.
#include <string>

namespace trellis {

bool valid_job_id(const std::string& id);
bool valid_group_id(const std::string& id);

}  // namespace trellis
