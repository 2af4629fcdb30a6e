#pragma once
// The job state machine of job.h as data: every (from, to) move of a job's state that the store
// may make, with the operations that make it. BasicJobStore::move() checks each move against this
// table (check_transition) and refuses any other with Error(conflict); submit's first state
// (queued) and a cancel request (a flag, no move) are not moves.
// Pure data and functions: thread-safe.
#include <array>

#include "coordinator/store/job.h"

namespace trellis {

struct JobTransition {
  JobState from;
  JobState to;
  const char* by;  // the operations that make the move, for readers and messages
};

inline constexpr std::array<JobState, 6> kJobStates{JobState::queued,    JobState::leased, JobState::running,
                                                    JobState::succeeded, JobState::failed, JobState::cancelled};

inline constexpr std::array<JobTransition, 11> kJobTransitions{{
    {JobState::queued, JobState::leased, "lease"},
    {JobState::queued, JobState::cancelled, "cancel"},
    {JobState::leased, JobState::running, "first heartbeat"},
    {JobState::leased, JobState::succeeded, "complete"},
    {JobState::running, JobState::succeeded, "complete"},
    {JobState::leased, JobState::queued, "fail (retryable), lease expiry, group release"},
    {JobState::running, JobState::queued, "fail (retryable), lease expiry, group release"},
    {JobState::leased, JobState::failed, "fail, lease expiry, group release (attempts used up)"},
    {JobState::running, JobState::failed, "fail, lease expiry, group release (attempts used up)"},
    {JobState::leased, JobState::cancelled, "cancelled; fail, lease expiry, group release after a cancel request"},
    {JobState::running, JobState::cancelled, "cancelled; fail, lease expiry, group release after a cancel request"},
}};

// Whether the table holds (from, to).
constexpr bool transition_allowed(JobState from, JobState to) {
  for (const JobTransition& t : kJobTransitions)
    if (t.from == from && t.to == to) return true;
  return false;
}

// Throws Error(conflict) naming the job, its current state and the target state unless the table
// holds (from, to).
void check_transition(const std::string& job_id, JobState from, JobState to);

}  // namespace trellis
