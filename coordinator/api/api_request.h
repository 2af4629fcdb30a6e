#pragma once
// Helpers shared by the job and worker routes: request bodies and query parameters checked
// field by field, and the mapping of errors to responses.
// Errors become responses through the one mapping of error codes (http::error_response(req, Error));
// BadRequest is an Error with code invalid (400) whose message names the field.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "coordinator/http/router.h"
#include "common/error.h"
#include "protocol/json_fields.h"

namespace trellis::api {

class BadRequest : public Error {
 public:
  explicit BadRequest(const std::string& message) : Error(ErrorCode::invalid, message) {}
};

// The body as a JSON object; BadRequest with the parse position, or when it is not an object.
nlohmann::json body_object(const http::Request& req);
// Typed fields of an object (protocol/json_fields.h; Error(invalid), a 400, naming the field).
using protocol::bool_field;
using protocol::int_field;
using protocol::only_fields;
using protocol::optional_int_field;
using protocol::optional_string_field;
using protocol::string_field;

// Query parameters: absent -> nullopt; present but not an integer (or out of range) -> BadRequest.
std::optional<int64_t> query_int(const http::RouteContext& ctx, const std::string& name, int64_t min, int64_t max);
std::optional<double> query_seconds(const http::RouteContext& ctx, const std::string& name, double max);

// Runs `f`, turning every trellis::Error into its response (http::error_response); other
// exceptions propagate (the router answers 500 internal).
http::Response guarded(const http::Request& req, const std::function<http::Response()>& f);
http::StringResponse no_content(const http::Request& req);

}  // namespace trellis::api
