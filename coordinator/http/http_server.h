#pragma once
// HttpServer: an HTTP/1.1 server shaped like Beast's advanced server. One acceptor; each
// connection is a Session on its own strand that reads one request, hands it to the Router,
// writes the response and reads again (keep-alive), so at most one write is ever in flight per
// connection. Every read and write has a timeout (beast::tcp_stream::expires_after): a client
// that stalls loses its connection. Bodies over max_body_bytes get 413, headers (request line
// included) over max_header_bytes 431, unparsable requests 400; each then closes the connection.
// Closing after a response is a lingering close: the server half-closes, then reads and discards
// what the client still sends (an unread body) while it keeps sending (pauses under
// linger_timeout, read_timeout in all), so the client reads the answer instead of a reset.
//
// Lifecycle: construct (binds and listens; throws trellis::Error naming the address), start()
// (begins accepting on the io_context the caller runs), stop() (thread-safe, idempotent: closes the
// acceptor, closes idle connections, lets responses in flight finish). The io_context's run()
// returns once every connection is gone. The Router is a collaborator (not owned) and must outlive
// the server. Nothing about requests is logged here (so no token ever is).
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "coordinator/http/router.h"

namespace trellis::http {

struct ServerOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;                                // 0: an ephemeral port (see local_endpoint())
  std::size_t max_body_bytes = 1 << 20;                   // request bodies (responses are not limited)
  std::size_t max_header_bytes = std::size_t{16} * 1024;  // request line + headers
  std::chrono::seconds read_timeout{30};                  // for one whole request (and between keep-alive requests)
  std::chrono::seconds write_timeout{300};                // for one whole response (files can be large)
  std::chrono::milliseconds linger_timeout{2000};         // longest pause while draining a closing connection
};

class Session;

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ioc, ServerOptions options, const Router& router);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }
  void start();
  void stop();
  std::size_t open_connections() const;

 private:
  void do_accept();
  void on_accept(boost::system::error_code ec, boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& ioc_;
  ServerOptions options_;
  const Router& router_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::endpoint endpoint_;
  mutable std::mutex mutex_;
  bool stopped_ = false;
  std::vector<std::weak_ptr<Session>> sessions_;
};

}  // namespace trellis::http
