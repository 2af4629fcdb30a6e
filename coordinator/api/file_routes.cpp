// POST /v1/files, GET /v1/files/{id} (PROTOCOL.md).
#include <boost/beast/http/file_body.hpp>

#include "coordinator/api/api_request.h"
#include "coordinator/api/job_api.h"
#include "coordinator/http/json_response.h"

namespace trellis::api {

namespace bh = http::beast_http;
using http::Role;

void add_file_routes(http::Router& router, JobApi& api) {
  router.add(bh::verb::post, "/v1/files", {Role::user, Role::admin},
             [&api](const http::Request& req, const http::RouteContext&) {
               const StoredFile stored = api.files.put(req.body());
               return http::Response(http::json_response(req, stored.created ? bh::status::created : bh::status::ok,
                                                         {{"id", stored.id}, {"bytes", stored.bytes}}));
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
}

}  // namespace trellis::api
