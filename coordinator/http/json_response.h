#pragma once
// JSON responses and the API's error shape: {"error": {"code": "...", "message": "..."}}.
// code is a short machine-readable word (not_found, invalid, conflict, unauthorized, ...).
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "coordinator/http/http_types.h"

namespace trellis::http {

// A response with the request's HTTP version and keep-alive, `body` serialised as JSON.
StringResponse json_response(const Request& req, beast_http::status status, const nlohmann::json& body);
StringResponse error_response(const Request& req, beast_http::status status, const std::string& code,
                              const std::string& message);
// The one mapping of the project's error codes to HTTP statuses (common/error.h lists them), and
// an error response with the error's code and message.
beast_http::status http_status(ErrorCode code);
StringResponse error_response(const Request& req, const Error& error);
// Without a request (a parse failure before any request existed): HTTP/1.1, Connection: close.
StringResponse error_response(beast_http::status status, const std::string& code, const std::string& message);

}  // namespace trellis::http
