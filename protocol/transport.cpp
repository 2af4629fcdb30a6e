#include "protocol/transport.h"

namespace trellis::protocol {

HttpTransport::HttpTransport(std::string server, std::string token)
    : server_(std::move(server)), token_(std::move(token)) {
  http::HttpClient probe({.server = server_, .token = token_});  // validates the URL
}

http::HttpClient HttpTransport::client(std::chrono::milliseconds timeout) const {
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(timeout);
  return http::HttpClient({.server = server_, .token = token_, .timeout = std::max(seconds, std::chrono::seconds(1))});
}

http::ClientReply HttpTransport::send(const TransportRequest& request) {
  const http::HttpClient c = client(request.timeout);
  if (request.method == TransportRequest::Method::get) return c.get(request.target);
  return c.post(request.target, request.body, request.headers);
}

http::ClientReply HttpTransport::get_to_file(const std::string& target, const std::filesystem::path& file,
                                             std::chrono::milliseconds timeout) {
  return client(timeout).get_to_file(target, file);
}

}  // namespace trellis::protocol
