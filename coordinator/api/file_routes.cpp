// POST /v1/files, GET /v1/files/{id}, DELETE /v1/files/{id} (PROTOCOL.md).
#include <boost/beast/http/file_body.hpp>

#include "coordinator/api/api_request.h"
#include "coordinator/api/file_retention.h"
#include "coordinator/api/job_api.h"
#include "coordinator/http/json_response.h"
#include "protocol/messages.h"

namespace trellis::api {

namespace bh = http::beast_http;
using http::Role;

void add_file_routes(http::Router& router, JobApi& api) {
  router.add(bh::verb::post, "/v1/files", {Role::user, Role::admin},
             [&api](const http::Request& req, const http::RouteContext&) {
               const StoredFile stored = api.files.put(req.body());
               return http::Response(
                   http::json_response(req, stored.created ? bh::status::created : bh::status::ok,
                                       protocol::FileStored{stored.id, static_cast<int64_t>(stored.bytes)}));
             });
  router.add(bh::verb::get, "/v1/files/{id}", {Role::user, Role::worker, Role::admin},
             [&api](const http::Request& req, const http::RouteContext& ctx) -> http::Response {
               const std::string& id = ctx.params.at("id");
               if (!FileStore::valid_id(id))
                 return http::error_response(req, bh::status::bad_request, "invalid",
                                             "a file id is 64 lowercase hex digits (the sha256 of its bytes)");
               auto path = api.files.find(id);
               if (!path) return http::error_response(req, bh::status::not_found, "not_found", "no file " + id);
               if (req[bh::field::if_none_match] == "\"" + id + "\"") {
                 http::StringResponse res{bh::status::not_modified, req.version()};
                 res.set(bh::field::etag, "\"" + id + "\"");
                 res.keep_alive(req.keep_alive());
                 return res;
               }
               boost::beast::error_code ec;
               bh::file_body::value_type body;
               body.open(path->c_str(), boost::beast::file_mode::scan, ec);
               if (ec)
                 return http::error_response(req, bh::status::internal_server_error, "io",
                                             "cannot read file " + id + ": " + ec.message());
               http::FileResponse res{std::piecewise_construct, std::make_tuple(std::move(body)),
                                      std::make_tuple(bh::status::ok, req.version())};
               res.set(bh::field::content_type, "application/octet-stream");
               res.set(bh::field::etag, "\"" + id + "\"");
               res.keep_alive(req.keep_alive());
               res.prepare_payload();
               return res;
             });
  // Removal on request (data uploaded by mistake, say); never of a live job's data.
  router.add(bh::verb::delete_, "/v1/files/{id}", {Role::admin},
             [&api](const http::Request& req, const http::RouteContext& ctx) -> http::Response {
               return guarded(req, [&]() -> http::Response {
                 const std::string& id = ctx.params.at("id");
                 if (!FileStore::valid_id(id))
                   throw BadRequest("a file id is 64 lowercase hex digits (the sha256 of its bytes)");
                 const auto listed_at = FileStore::Clock::now();  // before the listing: see FileStore
                 const auto live = live_job_files(api.store);
                 if (auto it = live.find(id); it != live.end())
                   return http::error_response(req, bh::status::conflict, "in_use",
                                               "file " + id + " is data of live job " + it->second +
                                                   " (cancel it or let it finish first)");
                 switch (api.files.remove(id, listed_at)) {
                   case RemoveResult::removed: return no_content(req);
                   case RemoveResult::pinned:
                     return http::error_response(req, bh::status::conflict, "in_use",
                                                 "file " + id +
                                                     " was used in a submit or an upload just now; try again");
                   case RemoveResult::not_found: break;
                 }
                 return http::error_response(req, bh::status::not_found, "not_found", "no file " + id);
               });
             });
}

}  // namespace trellis::api
