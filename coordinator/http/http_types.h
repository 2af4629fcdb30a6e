#pragma once
// The HTTP types shared by the server, the router and the handlers (Boost.Beast, header-only).
// A handler takes a parsed request and returns a Response: a buffered body (JSON, errors) or a
// file streamed from disk (file_body). Handlers never touch sockets, so tests call them directly.
#include <map>
#include <string>
#include <variant>

#include <boost/beast/http.hpp>

namespace trellis::http {

namespace beast_http = boost::beast::http;

using Request = beast_http::request<beast_http::string_body>;
using StringResponse = beast_http::response<beast_http::string_body>;
using FileResponse = beast_http::response<beast_http::file_body>;
using Response = std::variant<StringResponse, FileResponse>;

// Path parameters by name ("{task}" -> "sent"), percent-decoded.
using PathParams = std::map<std::string, std::string>;

// The status of either kind of response.
inline beast_http::status status_of(const Response& r) {
  return std::visit([](const auto& res) { return res.result(); }, r);
}

}  // namespace trellis::http
