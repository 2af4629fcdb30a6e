#pragma once
// InProcessTransport: a protocol::Transport that hands each request to a Router in this process
// (Router::handle: the real routes, auth included) instead of a socket, so the typed client can be
// tested against the real routes and store with no network. Requests carry `token` as a bearer
// token. File answers (file_body) are read into the reply or written to the requested file.
// Thread-safety: as Router::handle (any thread once the routes are added). An asynchronous route
// blocks the calling thread until it answers: the feed's io_context must run on another thread.
#include <fstream>
#include <sstream>
#include <string>

#include "coordinator/http/router.h"
#include "protocol/transport.h"

namespace trellis::testing {

class InProcessTransport : public protocol::Transport {
 public:
  InProcessTransport(const http::Router& router, std::string token) : router_(router), token_(std::move(token)) {}

  http::ClientReply send(const protocol::TransportRequest& request) override {
    namespace bh = boost::beast::http;
    http::Request req{request.method == protocol::TransportRequest::Method::get ? bh::verb::get : bh::verb::post,
                      request.target, 11};
    if (!token_.empty()) req.set(bh::field::authorization, "Bearer " + token_);
    for (const auto& [name, value] : request.headers) req.set(name, value);
    if (request.method == protocol::TransportRequest::Method::post) {
      req.set(bh::field::content_type, "application/json");
      req.body() = request.body;
    }
    req.prepare_payload();
    return reply_of(router_.handle(req));
  }

  http::ClientReply get_to_file(const std::string& target, const std::filesystem::path& file,
                                std::chrono::milliseconds timeout) override {
    http::ClientReply reply = send({protocol::TransportRequest::Method::get, target, "", {}, timeout});
    if (reply.status == 200) {
      std::ofstream(file, std::ios::binary | std::ios::trunc) << reply.body;
      reply.body.clear();
    }
    return reply;
  }

  std::string name() const override { return "in-process routes"; }

 private:
  static http::ClientReply reply_of(http::Response response) {
    http::ClientReply reply;
    if (auto* s = std::get_if<http::StringResponse>(&response)) {
      reply.status = s->result_int();
      reply.body = s->body();
      if (auto it = s->find(boost::beast::http::field::etag); it != s->end()) reply.etag = std::string(it->value());
    } else {
      auto& f = std::get<http::FileResponse>(response);
      reply.status = f.result_int();
      boost::beast::error_code ec;
      std::ostringstream out;
      char buf[1 << 16];
      for (;;) {
        const std::size_t n = f.body().file().read(buf, sizeof buf, ec);
        if (ec || n == 0) break;
        out.write(buf, static_cast<std::streamsize>(n));
      }
      reply.body = out.str();
    }
    reply.content_length = reply.body.size();
    return reply;
  }

  const http::Router& router_;
  std::string token_;
};

}  // namespace trellis::testing
