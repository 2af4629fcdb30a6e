#pragma once
// The job API (PROTOCOL.md): data files, jobs, events, the worker protocol and lease expiry.
// JobApi bundles the collaborators every route uses; none is owned, all must outlive the router.
// Every change to a job goes through the JobService (coordinator/jobs/), which notifies the
// ChangeFeed's topics (jobs::job_topic, jobs::backbone_topic), so long-polls wake at once; the routes
// read from its store and wait on the feed.
// Thread-safety: the routes may run on any number of I/O threads (the store serialises itself).
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "coordinator/api/backbone_catalog.h"
#include "coordinator/api/change_feed.h"
#include "coordinator/api/file_store.h"
#include "coordinator/http/router.h"
#include "coordinator/jobs/job_service.h"
#include "coordinator/store/job_store.h"

namespace trellis::api {

struct JobApi {
  jobs::JobService& jobs;
  JobStore& store;  // jobs.store(): reads only
  FileStore& files;
  ChangeFeed& feed;
  const BackboneCatalog& backbones;
  std::chrono::milliseconds lease_ttl{30'000};
  std::chrono::milliseconds heartbeat_interval{5'000};  // what groups are told to use
  int default_max_attempts = 3;
  std::chrono::seconds max_wait{60};  // longest long-poll
};

// POST /v1/files, GET /v1/files/{id}.
void add_file_routes(http::Router& router, JobApi& api);
// POST/GET /v1/jobs, GET /v1/jobs/{id}, POST /v1/jobs/{id}/cancel, GET /v1/jobs/{id}/events.
void add_job_routes(http::Router& router, JobApi& api);
// POST /v1/groups, /v1/groups/{group}/lease, /v1/jobs/{id}/{heartbeat,complete,fail,cancelled}.
void add_worker_routes(http::Router& router, JobApi& api);

}  // namespace trellis::api
