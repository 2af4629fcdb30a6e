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

StringResponse error_response(beast_http::status status, const std::string& code, const std::string& message) {
  Request req{beast_http::verb::get, "/", 11};
  req.keep_alive(false);
  return error_response(req, status, code, message);
}

}  // namespace trellis::http
