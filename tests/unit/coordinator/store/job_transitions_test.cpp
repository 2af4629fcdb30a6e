// The transition table (job_transitions.h) against the store: every (from, to) pair of job states
// is checked. Each of the store's operations runs on a job in each state; every move it makes is
// in the table, every move of the table is made by some operation, and what the table forbids is
// refused as a conflict naming both states.
#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <utility>

#include "common/error.h"
#include "coordinator/store/job_transitions.h"
#include "tests/unit/coordinator/store/store_test_util.h"

namespace trellis {
namespace {

using namespace std::chrono_literals;
using test::make_group;
using test::make_request;

// A fresh store holding one job in `state` (optionally with cancel requested, for live states).
struct JobInState {
  FakeClock clock;
  MemoryJobStore store{clock};
  std::string job_id;
  std::string lease_id = "l-none";

  JobInState(JobState state, bool cancel_requested) {
    store.register_group(make_group("g1"));
    job_id = store.submit(make_request("sst2", 0, test::kShaA, state == JobState::failed ? 1 : 3)).job.id;
    if (state == JobState::cancelled) store.cancel(job_id);
    if (state == JobState::queued || state == JobState::cancelled) return;
    lease_id = store.lease("g1", 10s)->lease_id;
    if (state != JobState::leased) {
      if (state == JobState::running) store.heartbeat(job_id, lease_id, 1, 10, nullptr);
      if (state == JobState::succeeded) store.complete(job_id, lease_id, "sst2@1");
      if (state == JobState::failed) store.fail(job_id, lease_id, JobError{"oom", "out of memory"}, false);
    }
    if (cancel_requested) store.cancel(job_id);
    EXPECT_EQ(store.get(job_id).state, state);
  }
};

using Operation = std::function<void(JobInState&)>;

const std::vector<std::pair<std::string, Operation>>& operations() {
  static const std::vector<std::pair<std::string, Operation>> ops = {
      {"lease", [](JobInState& s) { s.store.lease("g1", 10s); }},
      {"heartbeat", [](JobInState& s) { s.store.heartbeat(s.job_id, s.lease_id, 2, 10, nullptr); }},
      {"complete", [](JobInState& s) { s.store.complete(s.job_id, s.lease_id, "sst2@1"); }},
      {"fail retryable",
       [](JobInState& s) {
         s.store.fail(s.job_id, s.lease_id, {"oom", "m"}, true);
       }},
      {"fail final",
       [](JobInState& s) {
         s.store.fail(s.job_id, s.lease_id, {"bad", "m"}, false);
       }},
      {"hand back",
       [](JobInState& s) {
         s.store.fail(s.job_id, s.lease_id, {kPreempted, "m"}, true);
       }},
      {"cancel", [](JobInState& s) { s.store.cancel(s.job_id); }},
      {"cancelled", [](JobInState& s) { s.store.cancelled(s.job_id, s.lease_id); }},
      {"expire",
       [](JobInState& s) {
         s.clock.advance(11s);
         s.store.expire_leases(s.clock.now());
       }},
      {"release group",
       [](JobInState& s) {
         s.store.release_group("g1", {"group_ended", "m"});
       }},
  };
  return ops;
}

TEST(JobTransitionsTest, EveryMoveTheStoreMakesIsInTheTableAndEveryTableMoveIsMade) {
  std::set<std::pair<JobState, JobState>> made;
  for (JobState from : kJobStates) {
    for (bool cancel_requested : {false, true}) {
      if (cancel_requested && !is_live(from)) continue;
      for (const auto& [name, op] : operations()) {
        JobInState s(from, cancel_requested);
        const std::string where = to_string(from) + (cancel_requested ? " (cancel requested)" : "") + ", " + name;
        try {
          op(s);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::conflict) << where << ": " << e.what();
          EXPECT_EQ(s.store.get(s.job_id).state, from) << where;  // a refused call changes nothing
          continue;
        }
        const JobState to = s.store.get(s.job_id).state;
        if (to == from) continue;  // no move (a renewal, a cancel request, nothing queued to lease)
        EXPECT_TRUE(transition_allowed(from, to)) << where << " moved to " << to_string(to);
        made.emplace(from, to);
      }
    }
  }
  std::set<std::pair<JobState, JobState>> table;
  for (const JobTransition& t : kJobTransitions) table.emplace(t.from, t.to);
  EXPECT_EQ(made, table);
}

TEST(JobTransitionsTest, EveryPairOfStatesIsCheckedAgainstTheTable) {
  int allowed = 0;
  for (JobState from : kJobStates) {
    for (JobState to : kJobStates) {
      if (transition_allowed(from, to)) {
        ++allowed;
        EXPECT_NO_THROW(check_transition("j-1", from, to));
        EXPECT_FALSE(is_terminal(from)) << "terminal states are final";
        continue;
      }
      try {
        check_transition("j-1", from, to);
        ADD_FAILURE() << to_string(from) << " -> " << to_string(to) << " was not refused";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::conflict);
        const std::string m = e.what();
        EXPECT_NE(m.find("j-1"), std::string::npos) << m;
        EXPECT_NE(m.find("from " + to_string(from)), std::string::npos) << m;
        EXPECT_NE(m.find("to " + to_string(to)), std::string::npos) << m;
      }
    }
  }
  EXPECT_EQ(allowed, static_cast<int>(kJobTransitions.size()));  // no pair listed twice
}

}  // namespace
}  // namespace trellis
