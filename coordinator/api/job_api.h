#pragma once
// The job API (PROTOCOL.md): data files, jobs, events, the worker protocol and lease expiry.
// JobApi bundles the collaborators every route uses; none is owned, all must outlive the router.
// Every change to a job is followed by a ChangeFeed notification of "job/<id>", and every change
// that may let a group lease something by one of "backbone/<sha256>", so long-polls wake at once.
// Thread-safety: the routes may run on any number of I/O threads (the store serialises itself).
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "coordinator/api/backbone_catalog.h"
#include "coordinator/api/change_feed.h"
#include "coordinator/api/file_store.h"
#include "coordinator/http/router.h"
#include "coordinator/store/job_store.h"

namespace trellis::api {

struct JobApi {
  JobStore& store;
  FileStore& files;
  ChangeFeed& feed;
  const BackboneCatalog& backbones;
  std::chrono::milliseconds lease_ttl{30'000};
  std::chrono::milliseconds heartbeat_interval{5'000};  // what groups are told to use
  int default_max_attempts = 3;
  std::chrono::seconds max_wait{60};                    // longest long-poll
  // Called (on the handler's thread) after a submit created a job; e.g. wakes the launcher so a
  // cold start does not wait for its next poll. Must be thread-safe and quick; may be empty.
  std::function<void()> on_submitted;
};

std::string job_topic(const std::string& job_id);
std::string backbone_topic(const std::string& backbone_sha256);

// POST /v1/files, GET /v1/files/{id}.
void add_file_routes(http::Router& router, JobApi& api);
// POST/GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel, GET /v1/jobs/{id}/events.
void add_job_routes(http::Router& router, JobApi& api);
// POST /v1/groups, /v1/groups/{group}/lease, /v1/jobs/{id}/{heartbeat,complete,fail,cancelled}.
void add_worker_routes(http::Router& router, JobApi& api);

// Sends every job whose lease expired by `now` back to the queue (or to failed/cancelled) and
// wakes the waiters concerned. Returns the jobs' ids. Called by the coordinator's expiry timer.
std::vector<std::string> expire_leases(JobApi& api, Time now);
// Ends the group (its Slurm job ended): its live jobs go back to the queue at once (JobStore::
// release_group) and the waiters concerned wake. Returns the jobs' ids. Called by the launcher.
std::vector<std::string> release_group(JobApi& api, const std::string& group_id, const JobError& error);

}  // namespace trellis::api
