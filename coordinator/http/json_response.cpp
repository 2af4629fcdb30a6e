#include "coordinator/http/json_response.h"

namespace trellis::http {

StringResponse json_response(const Request& req, beast_http::status status, const nlohmann::json& body) {
  StringResponse res{status, req.version()};
  res.set(beast_http::field::server, "trellis-coordinator");
  res.set(beast_http::field::content_type, "application/json");
  res.keep_alive(req.keep_alive());
  // Invalid UTF-8 in a message (a name echoed back) is replaced, never thrown.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  res.prepare_payload();
  return res;
}

StringResponse error_response(const Request& req, beast_http::status status, const std::string& code,
                              const std::string& message) {
  return json_response(req, status, {{"error", {{"code", code}, {"message", message}}}});
}

beast_http::status http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid: return beast_http::status::bad_request;
    case ErrorCode::not_found: return beast_http::status::not_found;
    case ErrorCode::conflict: return beast_http::status::conflict;
    case ErrorCode::unavailable: return beast_http::status::service_unavailable;
    case ErrorCode::broken:
    case ErrorCode::io:
    case ErrorCode::internal: break;
  }
  return beast_http::status::internal_server_error;
}

StringResponse error_response(const Request& req, const Error& error) {
  return error_response(req, http_status(error.code()), to_string(error.code()), error.what());
}

StringResponse error_response(beast_http::status status, const std::string& code, const std::string& message) {
  Request req{beast_http::verb::get, "/", 11};
  req.keep_alive(false);
  return error_response(req, status, code, message);
}

}  // namespace trellis::http
