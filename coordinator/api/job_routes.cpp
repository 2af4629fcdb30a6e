// The user's job routes (PROTOCOL.md): submit, list, get, cancel, events (long-poll).
#include "coordinator/api/api_request.h"
#include "coordinator/api/job_api.h"
#include "coordinator/api/job_json.h"
#include "coordinator/http/json_response.h"
#include "common/error.h"
#include "trainer/data/data_reference.h"
#include "trainer/spec/job_spec.h"

namespace trellis::api {

namespace bh = http::beast_http;
using http::Role;

using jobs::job_topic;

namespace {

// A data reference must be an uploaded file: returns "file:<id>" or throws BadRequest. The file
// stays pinned (safe from removal) while `pins` lives: until the job is stored.
std::string checked_file_reference(FileStore& files, const std::string& field, const std::string& value,
                                   std::vector<FileStore::Pin>& pins) {
  auto ref = parse_data_reference(value);
  if (!ref)
    throw BadRequest("job: field '" + field +
                     "' must be a file id (\"file:<sha256>\" from POST /v1/files, optionally with the format: "
                     "\"file:<sha256>.jsonl\", .csv, .tsv), got '" +
                     value.substr(0, 200) + "': the coordinator does not read paths");
  auto pin = files.pin(ref->id);
  if (!pin) throw BadRequest("job: field '" + field + "': unknown file id " + ref->id + " (upload it first)");
  pins.push_back(std::move(*pin));
  return ref->canonical();
}

bool valid_idempotency_key(const std::string& key) {
  if (key.empty() || key.size() > 128) return false;
  for (unsigned char c : key)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

SubmitRequest submit_request(const JobApi& api, const http::Request& req, std::vector<FileStore::Pin>& pins) {
  const auto envelope = body_object(req).get<protocol::SubmitEnvelope>();
  SubmitRequest request;
  request.priority = envelope.priority.value_or(0);
  request.max_attempts = envelope.max_attempts.value_or(api.default_max_attempts);
  try {
    request.spec = parse_job_spec(envelope.spec, "job");
  } catch (const Error& e) {
    throw BadRequest(e.what());
  }
  request.spec.data.train = checked_file_reference(api.files, "data.train", request.spec.data.train, pins);
  if (request.spec.data.validation)
    request.spec.data.validation =
        checked_file_reference(api.files, "data.validation", *request.spec.data.validation, pins);
  auto sha = api.backbones.sha256_of(request.spec.backbone);
  if (!sha)
    throw BadRequest("job: field 'backbone': unknown backbone '" + request.spec.backbone.substr(0, 100) +
                     "' (served: " + api.backbones.names_joined() + ")");
  request.backbone_sha256 = *sha;
  if (auto it = req.find("Idempotency-Key"); it != req.end()) {
    const std::string key(it->value());
    if (!valid_idempotency_key(key))
      throw BadRequest("header 'Idempotency-Key' must be 1 to 128 printable ASCII characters without spaces");
    request.idempotency_key = key;
  }
  return request;
}

protocol::JobMessage job_json(JobApi& api, const Job& job) {
  return job_message(job, api.store.queue_position_of(job));
}

}  // namespace

void add_job_routes(http::Router& router, JobApi& api) {
  const std::set<Role> users{Role::user, Role::admin};

  router.add(bh::verb::post, "/v1/jobs", users, [&api](const http::Request& req, const http::RouteContext&) {
    return guarded(req, [&]() -> http::Response {
      std::vector<FileStore::Pin> pins;  // released once the job is stored (or refused)
      const SubmitResult result = api.jobs.submit(submit_request(api, req, pins));
      auto res =
          http::json_response(req, result.created ? bh::status::created : bh::status::ok, job_json(api, result.job));
      res.set(bh::field::location, "/v1/jobs/" + result.job.id);
      return res;
    });
  });

  router.add(bh::verb::get, "/v1/jobs", users, [&api](const http::Request& req, const http::RouteContext& ctx) {
    return guarded(req, [&]() -> http::Response {
      ListQuery query;
      if (auto it = ctx.query.find("state"); it != ctx.query.end() && !it->second.empty())
        query.state = parse_job_state(it->second);
      if (auto it = ctx.query.find("task"); it != ctx.query.end() && !it->second.empty()) {
        if (!valid_task_name(it->second))
          throw BadRequest("query parameter 'task' must match [a-z0-9][a-z0-9._-]{0,63}");
        query.task = it->second;
      }
      query.limit = static_cast<int>(query_int(ctx, "limit", 1, 1000).value_or(100));
      if (auto it = ctx.query.find("after"); it != ctx.query.end() && !it->second.empty()) {
        if (!valid_job_id(it->second)) throw BadRequest("query parameter 'after' must be a job id");
        query.after = it->second;
      }
      protocol::JobPage page;
      const std::vector<Job> found = api.store.list(query);
      for (const Job& job : found) page.jobs.push_back(job_json(api, job));
      if (static_cast<int>(found.size()) == query.limit) page.next = found.back().id;
      return http::json_response(req, bh::status::ok, page);
    });
  });

  router.add(bh::verb::get, "/v1/jobs/{id}", users, [&api](const http::Request& req, const http::RouteContext& ctx) {
    return guarded(req, [&]() -> http::Response {
      return http::json_response(req, bh::status::ok, job_json(api, api.jobs.get(ctx.params.at("id"))));
    });
  });

  router.add(bh::verb::post, "/v1/jobs/{id}/cancel", users,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const Job job = api.jobs.cancel(ctx.params.at("id"));
                 return http::json_response(req, bh::status::ok, job_json(api, job));
               });
             });

  router.add_async(bh::verb::get, "/v1/jobs/{id}/events", users,
                   [&api](const http::Request& req_in, http::RouteContext ctx, http::Responder done) {
                     auto req = std::make_shared<http::Request>(req_in);
                     req->body().clear();
                     int64_t after = 0;
                     double wait = 0;
                     std::string id = ctx.params.at("id");
                     http::Response early = guarded(*req, [&]() -> http::Response {
                       api.jobs.get(id);
                       after = query_int(ctx, "after", 0, INT64_MAX).value_or(0);
                       wait = query_seconds(ctx, "wait", static_cast<double>(api.max_wait.count())).value_or(0);
                       return no_content(*req);
                     });
                     if (http::status_of(early) != bh::status::no_content) return done(std::move(early));
                     api.feed.wait(
                         job_topic(id), ChangeFeed::deadline_after(wait),
                         [&api, req, id, after](bool final) -> std::optional<http::Response> {
                           // 204 inside means "nothing yet": keep waiting.
                           http::Response answer = guarded(*req, [&]() -> http::Response {
                             const std::vector<JobEvent> events = api.store.events(id, after, 1000);
                             const Job job = api.store.get(id);
                             if (events.empty() && !final && !is_terminal(job.state)) return no_content(*req);
                             protocol::EventPage page{.last_seq = events.empty() ? after : events.back().seq,
                                                      .state = job.state};
                             for (const auto& e : events) page.events.push_back(event_message(e));
                             return http::json_response(*req, bh::status::ok, page);
                           });
                           if (http::status_of(answer) == bh::status::no_content) return std::nullopt;
                           return answer;
                         },
                         std::move(done));
                   });
}

}  // namespace trellis::api
