// The worker protocol (PROTOCOL.md): register, lease (long-poll), heartbeat, complete, fail,
// cancelled; and lease expiry.
#include <unistd.h>

#include <cctype>

#include "coordinator/api/api_request.h"
#include "coordinator/api/job_api.h"
#include "coordinator/api/job_json.h"
#include "coordinator/http/json_response.h"
#include "common/error.h"
#include "trainer/spec/data_reference.h"

namespace trellis::api {

namespace bh = http::beast_http;
using http::Role;

namespace {

// Empty (not under Slurm) or a Slurm job id: "123", "123_4" (array), "123+1" (het job).
bool valid_slurm_job_id(const std::string& id) {
  if (id.size() > 64) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != ';' && c != '+' && c != '-')
      return false;
  return true;
}

// The job of a worker call, with its lease id from the body (BadRequest / not_found otherwise).
std::string lease_of(const nlohmann::json& body) {
  const std::string lease = string_field(body, "lease_id");
  if (lease.empty() || lease.size() > 64) throw BadRequest("field 'lease_id' is not a lease id");
  return lease;
}

}  // namespace

void add_worker_routes(http::Router& router, JobApi& api) {
  const std::set<Role> workers{Role::worker, Role::admin};

  router.add(bh::verb::post, "/v1/groups", workers, [&api](const http::Request& req, const http::RouteContext&) {
    return guarded(req, [&]() -> http::Response {
      const nlohmann::json body = body_object(req);
      only_fields(body, {"backbone_name", "backbone_sha256", "world_size", "devices", "host", "group_id", "slurm_job_id"},
                  "group");
      Group group;
      group.backbone_name = string_field(body, "backbone_name");
      group.backbone_sha256 = string_field(body, "backbone_sha256");
      if (!is_sha256_hex(group.backbone_sha256))
        throw BadRequest("field 'backbone_sha256' must be 64 lowercase hex digits");
      group.world_size = static_cast<int>(int_field(body, "world_size", 1, 1 << 20));
      group.host = optional_string_field(body, "host").value_or("");
      group.slurm_job_id = optional_string_field(body, "slurm_job_id").value_or("");
      if (!valid_slurm_job_id(group.slurm_job_id))
        throw BadRequest("field 'slurm_job_id' must be 1 to 64 characters of [A-Za-z0-9_.;+-]");
      if (body.contains("devices") && !(body["devices"].is_array()))
        throw BadRequest("field 'devices' must be an array of strings");
      auto id = optional_string_field(body, "group_id");
      if (id && !valid_group_id(*id)) throw BadRequest("field 'group_id' must be \"g-\" + 32 hex digits");
      group.id = id ? *id : new_random_id("g-");
      const Group saved = api.jobs.register_group(group);
      return http::json_response(req, bh::status::created,
                                 {{"group_id", saved.id},
                                  {"lease_ttl_ms", api.lease_ttl.count()},
                                  {"heartbeat_ms", api.heartbeat_interval.count()},
                                  {"served", api.backbones.sha256_of(saved.backbone_name) == saved.backbone_sha256}});
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
                return http::json_response(*req, bh::status::ok,
                                           {{"lease_id", lease->lease_id},
                                            {"lease_ttl_ms", api.lease_ttl.count()},
                                            {"heartbeat_ms", api.heartbeat_interval.count()},
                                            {"job", job_to_json(lease->job, std::nullopt)}});
              });
              if (http::status_of(answer) == bh::status::no_content && !final) return std::nullopt;
              return answer;
            },
            std::move(done));
      });

  router.add(bh::verb::post, "/v1/jobs/{id}/heartbeat", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const std::string& id = ctx.params.at("id");
                 const nlohmann::json body = body_object(req);
                 only_fields(body, {"lease_id", "step", "total_steps", "metrics"}, "heartbeat");
                 const int64_t step = optional_int_field(body, "step", 0, INT64_MAX).value_or(0);
                 const int64_t total = optional_int_field(body, "total_steps", 0, INT64_MAX).value_or(0);
                 nlohmann::json metrics = body.contains("metrics") ? body["metrics"] : nlohmann::json::object();
                 if (!metrics.is_object()) throw BadRequest("field 'metrics' must be a JSON object");
                 const HeartbeatReply reply = api.jobs.heartbeat(id, lease_of(body), step, total, metrics);
                 return http::json_response(req, bh::status::ok,
                                            {{"action", reply == HeartbeatReply::cancel ? "cancel" : "continue"}});
               });
             });

  router.add(bh::verb::post, "/v1/jobs/{id}/complete", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const std::string& id = ctx.params.at("id");
                 const nlohmann::json body = body_object(req);
                 only_fields(body, {"lease_id", "artifact"}, "complete");
                 const std::string artifact = string_field(body, "artifact");
                 if (artifact.empty() || artifact.size() > 200 || artifact.find('@') == std::string::npos)
                   throw BadRequest("field 'artifact' must be a registry reference \"task@version\"");
                 const Job job = api.jobs.complete(id, lease_of(body), artifact);
                 return http::json_response(req, bh::status::ok, job_to_json(job, std::nullopt));
               });
             });

  router.add(bh::verb::post, "/v1/jobs/{id}/fail", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const std::string& id = ctx.params.at("id");
                 const nlohmann::json body = body_object(req);
                 only_fields(body, {"lease_id", "error", "retryable"}, "fail");
                 if (!body.contains("error") || !body["error"].is_object())
                   throw BadRequest("field 'error' must be an object {\"code\", \"message\"}");
                 JobError error{string_field(body["error"], "code"), string_field(body["error"], "message")};
                 if (error.code.empty() || error.code.size() > 64) throw BadRequest("field 'error.code' must be 1 to 64 characters");
                 if (error.message.size() > 8192) error.message.resize(8192);
                 const Job job = api.jobs.fail(id, lease_of(body), error, bool_field(body, "retryable"));
                 return http::json_response(req, bh::status::ok, job_to_json(job, std::nullopt));
               });
             });

  router.add(bh::verb::post, "/v1/jobs/{id}/cancelled", workers,
             [&api](const http::Request& req, const http::RouteContext& ctx) {
               return guarded(req, [&]() -> http::Response {
                 const std::string& id = ctx.params.at("id");
                 const nlohmann::json body = body_object(req);
                 only_fields(body, {"lease_id"}, "cancelled");
                 const Job job = api.jobs.cancelled(id, lease_of(body));
                 return http::json_response(req, bh::status::ok, job_to_json(job, std::nullopt));
               });
             });
}

}  // namespace trellis::api
