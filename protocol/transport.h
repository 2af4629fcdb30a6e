#pragma once
// Transport: how the typed coordinator client (coordinator_client.h) reaches the coordinator. One
// blocking request at a time per call; implementations must allow calls from several threads at
// once. HttpTransport speaks HTTP/1.1 over TCP (a fresh HttpClient per request); tests plug in
// one that hands requests to the real routes in-process (tests/support/in_process_transport.h).
// Errors: a failure to reach the server or to read its reply throws (trellis::Error or
// std::exception); HTTP error statuses are returned, not thrown.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "protocol/http_client.h"

namespace trellis::protocol {

struct TransportRequest {
  enum class Method { get, post } method = Method::post;
  std::string target;  // "/v1/jobs?limit=5": path and query, already percent-encoded
  std::string body;
  std::map<std::string, std::string> headers;  // e.g. Idempotency-Key
  std::chrono::milliseconds timeout{30'000};   // per step of the request
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual http::ClientReply send(const TransportRequest& request) = 0;
  // GET `target`; a 200 body goes to `file` (created or truncated), any other status's body is
  // returned in the reply.
  virtual http::ClientReply get_to_file(const std::string& target, const std::filesystem::path& file,
                                        std::chrono::milliseconds timeout) = 0;
  // For messages: the server's URL (or a name for an in-process one).
  virtual std::string name() const = 0;
};

class HttpTransport : public Transport {
 public:
  // Throws trellis::Error for a bad URL. The token is never printed.
  HttpTransport(std::string server, std::string token);
  http::ClientReply send(const TransportRequest& request) override;
  http::ClientReply get_to_file(const std::string& target, const std::filesystem::path& file,
                                std::chrono::milliseconds timeout) override;
  std::string name() const override { return server_; }

 private:
  http::HttpClient client(std::chrono::milliseconds timeout) const;
  std::string server_;
  std::string token_;
};

}  // namespace trellis::protocol
