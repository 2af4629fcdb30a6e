#pragma once
// A small blocking HTTP/1.1 client for the `trellis` command (Beast; plain http only). One
// connection per request; every step (resolve, connect, write, read) has a timeout. Throws
// trellis::Error naming the URL for network failures; HTTP error statuses are returned, not thrown.
// Not thread-safe (one request at a time); holds only its options between requests.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace trellis::http {

struct ClientOptions {
  std::string server;                                     // http://HOST:PORT (a path prefix is kept)
  std::string token;                                      // bearer token; empty: none sent (never printed)
  std::chrono::seconds timeout{60};                       // per step
  std::uint64_t max_body_bytes = std::uint64_t{1} << 33;  // largest response body accepted
};

struct ClientReply {
  unsigned status = 0;
  std::string body;  // the body; for get_to_file, only when status != 200
  std::string etag;  // the ETag header as sent (quotes included), or empty
  std::uint64_t content_length = 0;
};

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options);  // throws trellis::Error for a bad server URL
  // GET target (e.g. "/v1/adapters/sent/3"): the whole body (up to 16 MiB).
  ClientReply get(const std::string& target) const;
  // POST target with `body` (Content-Type application/json unless `headers` says otherwise) and
  // extra headers (e.g. Idempotency-Key): the whole reply body (up to 16 MiB).
  ClientReply post(const std::string& target, const std::string& body,
                   const std::map<std::string, std::string>& headers = {}) const;
  // GET target; a 200 body is written to `file` (created or truncated) as it arrives, with no
  // more and no fewer bytes than Content-Length (a truncated body is an error).
  ClientReply get_to_file(const std::string& target, const std::filesystem::path& file) const;
  // The error message of a JSON error body ({"error": {"message": ...}}), else the raw body.
  static std::string error_message(const ClientReply& reply);

 private:
  ClientOptions options_;
  std::string host_, port_, prefix_;
};

}  // namespace trellis::http
