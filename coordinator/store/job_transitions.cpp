#include "coordinator/store/job_transitions.h"

#include "common/error.h"

namespace trellis {

void check_transition(const std::string& job_id, JobState from, JobState to) {
  if (transition_allowed(from, to)) return;
  throw Error(ErrorCode::conflict, "Job '" + job_id + "' cannot move from " + to_string(from) + " to " + to_string(to) +
                                       " (not a transition of the job state machine).");
}

}  // namespace trellis
