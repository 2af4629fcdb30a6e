#include "coordinator/api/adapter_routes.h"

#include <fstream>

#include <boost/beast/core/file.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/api/api_request.h"
#include "coordinator/api/byte_range.h"
#include "coordinator/http/json_response.h"
#include "registry/artifact_ref.h"
#include "registry/artifact_registry.h"
#include "common/files.h"
#include "common/sha256.h"

namespace trellis::api {

using http::Request;
using http::Response;
using http::RouteContext;
using status = http::beast_http::status;
namespace bhttp = http::beast_http;

namespace {

const std::set<http::Role> kAnyRole = {http::Role::user, http::Role::worker, http::Role::admin};

ResolvedVersion resolve(const ArtifactRegistry& registry, const RouteContext& ctx) {
  const std::string& task = ctx.params.at("task");
  check_task_name(task);
  const std::string& ref = ctx.params.at("ref");
  if (ref.find('@') != std::string::npos) throw Error(ErrorCode::invalid, "bad reference '" + ref + "'");
  return registry.resolve(task + "@" + ref);
}

nlohmann::json version_json(const VersionInfo& v) {
  nlohmann::json j = {
      {"version", v.version}, {"state", to_string(v.state)}, {"metrics", v.metrics}, {"created", v.created}};
  if (v.published) j["published"] = *v.published;
  if (v.job_id) j["job_id"] = *v.job_id;
  if (v.attempt) j["attempt"] = *v.attempt;
  if (!v.problem.empty()) j["problem"] = v.problem;
  if (v.deleted) j["deleted"] = *v.deleted;
  return j;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

bool etag_matches(const Request& req, const std::string& etag) {
  const auto it = req.find(bhttp::field::if_none_match);
  if (it == req.end()) return false;
  const std::string_view value(it->value().data(), it->value().size());
  if (value == "*") return true;
  size_t start = 0;
  while (start < value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view tag = value.substr(start, end - start);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
    start = end + 1;
  }
  return false;
}

Response serve_file(const Request& req, const std::filesystem::path& path, const std::string& sha256,
                    const std::string& content_type) {
  const std::string etag = quoted(sha256);
  namespace beast = boost::beast;
  beast::error_code ec;
  beast::file file;
  file.open(path.c_str(), beast::file_mode::scan, ec);
  if (ec) throw Error(ErrorCode::io, "cannot open " + path.filename().string() + ": " + ec.message());
  const std::uint64_t size = file.size(ec);
  if (ec) throw Error(ErrorCode::io, "cannot size " + path.filename().string() + ": " + ec.message());

  auto common = [&](auto& res) {
    res.set(bhttp::field::server, "trellis-coordinator");
    res.set(bhttp::field::etag, etag);
    res.set(bhttp::field::accept_ranges, "bytes");
    res.set(bhttp::field::cache_control, "no-cache");
    res.keep_alive(req.keep_alive());
  };
  if (etag_matches(req, etag)) {
    http::StringResponse res{status::not_modified, req.version()};
    common(res);
    return res;
  }
  const auto range_it = req.find(bhttp::field::range);
  // If-Range with another validator: the whole file.
  const auto if_range = req.find(bhttp::field::if_range);
  const bool range_allowed = if_range == req.end() ||
                             std::string_view(if_range->value().data(), if_range->value().size()) == etag;
  if (range_it != req.end() && range_allowed && req.method() == bhttp::verb::get) {
    api::ByteRange range;
    switch (parse_byte_range(std::string_view(range_it->value().data(), range_it->value().size()), size, range)) {
      case RangeResult::unsatisfiable: {
        auto res = http::error_response(req, status::range_not_satisfiable, "range_not_satisfiable",
                                        "the file has " + std::to_string(size) + " bytes");
        common(res);
        res.set(bhttp::field::content_range, "bytes */" + std::to_string(size));
        return res;
      }
      case RangeResult::ok: {
        // A range is read into memory (adapter files are small); whole files are streamed.
        std::string slice(range.length(), '\0');
        file.seek(range.first, ec);
        std::size_t got = 0;
        while (!ec && got < slice.size()) {
          const std::size_t n = file.read(slice.data() + got, slice.size() - got, ec);
          if (n == 0) break;
          got += n;
        }
        if (ec || got != slice.size()) throw Error(ErrorCode::io, "cannot read " + path.filename().string());
        http::StringResponse res{status::partial_content, req.version()};
        common(res);
        res.set(bhttp::field::content_type, content_type);
        res.set(bhttp::field::content_range,
                "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) + "/" + std::to_string(size));
        res.body() = std::move(slice);
        res.prepare_payload();
        return res;
      }
      case RangeResult::none: break;
    }
  }
  if (req.method() == bhttp::verb::head) {  // the headers of the whole file, no body
    http::StringResponse res{status::ok, req.version()};
    common(res);
    res.set(bhttp::field::content_type, content_type);
    res.content_length(size);
    return res;
  }
  http::FileResponse res{status::ok, req.version()};
  common(res);
  res.set(bhttp::field::content_type, content_type);
  res.body().reset(std::move(file), ec);
  if (ec) throw Error(ErrorCode::io, "cannot read " + path.filename().string() + ": " + ec.message());
  res.prepare_payload();
  return res;
}

}  // namespace

void add_health_route(http::Router& router) {
  router.add(bhttp::verb::get, "/healthz", {}, [](const Request& req, const RouteContext&) -> Response {
    return http::json_response(req, status::ok, {{"status", "ok"}});
  });
}

void add_adapter_routes(http::Router& router, ArtifactRegistry& registry) {
  router.add(bhttp::verb::get, "/v1/adapters", kAnyRole, [&registry](const Request& req, const RouteContext&) {
    return guarded(req, [&]() -> Response {
      nlohmann::json out = nlohmann::json::array();
      for (const TaskSummary& t : registry.list_tasks())
        out.push_back({{"task", t.task},
                       {"versions", t.versions},
                       {"metrics", t.metrics},
                       {"latest", t.latest ? nlohmann::json(*t.latest) : nlohmann::json(nullptr)}});
      return http::json_response(req, status::ok, {{"tasks", out}});
    });
  });

  router.add(bhttp::verb::get, "/v1/adapters/{task}", kAnyRole,
             [&registry](const Request& req, const RouteContext& ctx) {
               return guarded(req, [&]() -> Response {
                 const std::string& task = ctx.params.at("task");
                 check_task_name(task);
                 nlohmann::json out = {{"task", task}, {"versions", nlohmann::json::array()}};
                 for (const VersionInfo& v : registry.list_versions(task)) out["versions"].push_back(version_json(v));
                 out["aliases"] = registry.aliases(task);
                 return http::json_response(req, status::ok, out);
               });
             });

  router.add(bhttp::verb::get, "/v1/adapters/{task}/{ref}", kAnyRole,
             [&registry](const Request& req, const RouteContext& ctx) {
               return guarded(req, [&]() -> Response {
                 const ResolvedVersion v = resolve(registry, ctx);
                 return http::json_response(req, status::ok, v.manifest.to_json());
               });
             });

  auto files = [&registry](const Request& req, const RouteContext& ctx) {
    return guarded(req, [&]() -> Response {
      const std::string& name = ctx.params.at("name");
      if (name != kAdapterFile && name != kManifestFile)
        return http::error_response(req, status::not_found, "not_found",
                                    "no file '" + name + "' (files: " + kAdapterFile + ", " + kManifestFile + ")");
      const ResolvedVersion v = resolve(registry, ctx);
      if (name == kAdapterFile)
        return serve_file(req, v.adapter_path, v.manifest.adapter_sha256, "application/octet-stream");
      // The manifest is small: its ETag is the sha256 of its bytes as stored.
      return serve_file(req, v.manifest_path, sha256_file_hex(v.manifest_path), "application/json");
    });
  };
  router.add(bhttp::verb::get, "/v1/adapters/{task}/{ref}/files/{name}", kAnyRole, files);
  router.add(bhttp::verb::head, "/v1/adapters/{task}/{ref}/files/{name}", kAnyRole, files);

  router.add(bhttp::verb::put, "/v1/adapters/{task}/aliases/{alias}", {http::Role::user, http::Role::admin},
             [&registry](const Request& req, const RouteContext& ctx) {
               return guarded(req, [&]() -> Response {
                 const std::string& task = ctx.params.at("task");
                 const std::string& alias = ctx.params.at("alias");
                 check_task_name(task);
                 check_alias_name(alias);
                 const nlohmann::json body = parse_json_text(req.body(), "request body");
                 if (!body.is_object() || !body.contains("version"))
                   throw Error(ErrorCode::invalid, "request body: expected {\"version\": N}");
                 for (const auto& [key, _] : body.items())
                   if (key != "version") throw Error(ErrorCode::invalid, "request body: unknown field '" + key + "'");
                 if (!body["version"].is_number_integer())
                   throw Error(ErrorCode::invalid, "request body: \"version\" must be an integer");
                 const int64_t version = body["version"].get<int64_t>();
                 check_version_number(version);
                 registry.set_alias(task, alias, version);
                 return http::json_response(req, status::ok, {{"task", task}, {"alias", alias}, {"version", version}});
               });
             });

  router.add(bhttp::verb::delete_, "/v1/adapters/{task}/{ref}", {http::Role::admin},
             [&registry](const Request& req, const RouteContext& ctx) {
               return guarded(req, [&]() -> Response {
                 const std::string& task = ctx.params.at("task");
                 check_task_name(task);
                 const auto version = parse_version_number(ctx.params.at("ref"));
                 if (!version)
                   throw Error(ErrorCode::invalid, "DELETE takes a version number, not '" + ctx.params.at("ref") + "'");
                 std::string reason = "deleted through the API";
                 if (auto it = ctx.query.find("reason"); it != ctx.query.end()) reason = it->second;
                 if (!req.body().empty()) {
                   const nlohmann::json body = parse_json_text(req.body(), "request body");
                   if (!body.is_object())
                     throw Error(ErrorCode::invalid, "request body: expected {\"reason\": \"...\"}");
                   for (const auto& [key, value] : body.items()) {
                     if (key != "reason") throw Error(ErrorCode::invalid, "request body: unknown field '" + key + "'");
                     if (!value.is_string())
                       throw Error(ErrorCode::invalid, "request body: \"reason\" must be a string");
                     reason = value.get<std::string>();
                   }
                 }
                 const bool now = registry.delete_version(task, *version, reason);
                 return http::json_response(
                     req, status::ok,
                     {{"task", task}, {"version", *version}, {"deleted", true}, {"already_deleted", !now}});
               });
             });
}

}  // namespace trellis::api
