// The worker protocol (PROTOCOL.md): register, lease (long-poll), heartbeat, complete, fail,
// cancelled; and lease expiry.
#include <unistd.h>

#include <cctype>

#include "coordinator/api/api_request.h"
#include "coordinator/api/job_api.h"
#include "coordinator/api/job_json.h"
#include "coordinator/http/json_response.h"
#include "common/error.h"
#include "trainer/data/data_reference.h"

namespace trellis::api {

namespace bh = http::beast_http;
using http::Role;

namespace {

// The body as the wire message T (protocol/messages.h): Error(invalid) naming the field otherwise.
template <class T>
T body_as(const http::Request& req) {
  return body_object(req).get<T>();
}

}  // namespace

void add_worker_routes(http::Router& router, JobApi& api) {
  const std::set<Role> workers{Role::worker, Role::admin};

  router.add(bh::verb::post, "/v1/groups", workers, [&api](const http::Request& req, const http::RouteContext&) {
    return guarded(req, [&]() -> http::Response {
      const auto registration = body_as<protocol::GroupRegistration>(req);
      Group group;
      group.backbone_name = registration.backbone_name;
      group.backbone_sha256 = registration.backbone_sha256;
      group.world_size = registration.world_size;
      group.host = registration.host;
      group.slurm_job_id = registration.slurm_job_id;
      group.id = registration.group_id ? *registration.group_id : new_random_id("g-");
      const Group saved = api.jobs.register_group(group);
      const protocol::GroupRegistered answer{.group_id = saved.id,
                                             .lease_ttl_ms = api.lease_ttl.count(),
                                             .heartbeat_ms = api.heartbeat_interval.count(),
                                             .served = api.backbones.sha256_of(saved.backbone_name) ==
                                                       saved.backbone_sha256};
      return http::json_response(req, bh::status::created, answer);
    });
  });

  router.add_async(
      bh::verb::post, "/v1/groups/{group}/lease", workers,
      [&api](const http::Request& req_in, http::RouteContext ctx, http::Responder done) {
        auto req = std::make_shared<http::Request>(req_in);
        req->body().clear();
        const std::string group_id = ctx.params.at("group");
        std::string sha;
        double wait = 0;
        http::Response early = guarded(*req, [&]() -> http::Response {
          if (!valid_group_id(group_id)) throw Error(ErrorCode::not_found, "no group '" + group_id.substr(0, 80) + "'");
          sha = api.store.get_group(group_id).backbone_sha256;
          wait = query_seconds(ctx, "wait", static_cast<double>(api.max_wait.count())).value_or(0);
          return no_content(*req);
        });
        if (http::status_of(early) != bh::status::no_content) return done(std::move(early));
        api.feed.wait(
            jobs::backbone_topic(sha), ChangeFeed::deadline_after(wait),
            [&api, req, group_id, gone = std::move(ctx.client_gone)](bool final) -> std::optional<http::Response> {
              // A worker that went away while waiting (killed, say) must not be handed a job: its
              // lease would only expire, costing the job a TTL and an attempt.
              if (gone && gone()) return no_content(*req);
              http::Response answer = guarded(*req, [&]() -> http::Response {
                auto lease = api.jobs.lease(group_id, api.lease_ttl);
                if (!lease) return no_content(*req);
                const protocol::LeaseGrant grant{.lease_id = lease->lease_id,
                                                 .lease_ttl_ms = api.lease_ttl.count(),
                                                 .heartbeat_ms = api.heartbeat_interval.count(),
                                                 .job = job_message(lease->job, std::nullopt)};
                return http::json_response(*req, bh::status::ok, grant);
              });
              if (http::status_of(answer) == bh::status::no_content && !final) return std::nullopt;
              return answer;
            },
            std::move(done));
      });

  router.add(bh::verb::post, "/v1/jobs/{id}/heartbeat", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const auto beat = body_as<protocol::Heartbeat>(req);
                 const HeartbeatAction action =
                     api.jobs.heartbeat(ctx.params.at("id"), beat.lease_id, beat.step, beat.total_steps, beat.metrics);
                 return http::json_response(req, bh::status::ok, protocol::HeartbeatAnswer{action});
               });
             });

  router.add(bh::verb::post, "/v1/jobs/{id}/complete", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const auto report = body_as<protocol::CompleteReport>(req);
                 const Job job = api.jobs.complete(ctx.params.at("id"), report.lease_id, report.artifact);
                 return http::json_response(req, bh::status::ok, job_message(job, std::nullopt));
               });
             });

  router.add(bh::verb::post, "/v1/jobs/{id}/fail", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const auto report = body_as<protocol::FailReport>(req);
                 const Job job = api.jobs.fail(ctx.params.at("id"), report.lease_id,
                                               JobError{report.error.code, report.error.message}, report.retryable);
                 return http::json_response(req, bh::status::ok, job_message(job, std::nullopt));
               });
             });

  router.add(bh::verb::post, "/v1/jobs/{id}/cancelled", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const auto report = body_as<protocol::CancelledReport>(req);
                 const Job job = api.jobs.cancelled(ctx.params.at("id"), report.lease_id);
                 return http::json_response(req, bh::status::ok, job_message(job, std::nullopt));
               });
             });
}

}  // namespace trellis::api
