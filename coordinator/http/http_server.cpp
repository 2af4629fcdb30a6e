#include "coordinator/http/http_server.h"

#include <algorithm>
#include <array>
#include <cerrno>

#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "coordinator/http/json_response.h"
#include "common/error.h"

namespace trellis::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// Whether the peer of a connected socket has closed or reset it: a non-blocking peek that finds
// the end of the stream or an error. Pending bytes (a pipelined request) mean it is still there.
static bool peer_closed(int fd) {
  char byte;
  for (;;) {
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;
    if (n == 0) return true;
    if (errno == EINTR) continue;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

// One connection. Lives as long as an operation holds shared_from_this(); every handler runs on
// the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const ServerOptions& options, const Router& router)
      : stream_(std::move(socket)), options_(options), router_(router) {}

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // From any thread: close now if idle (waiting for a request), else after the response in flight.
  void shutdown() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->stopping_ = true;
      if (!self->writing_) self->do_close();
    });
  }

 private:
  void do_read() {
    if (stopping_) return do_close();
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    stream_.expires_after(options_.read_timeout);
    beast_http::async_read(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == beast_http::error::end_of_stream || ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == net::error::eof || ec == net::error::connection_reset)
      return do_close();
    if (ec == beast_http::error::body_limit)
      return send(error_response(beast_http::status::payload_too_large, "too_large",
                                 "request body over " + std::to_string(options_.max_body_bytes) + " bytes"),
                  true);
    if (ec == beast_http::error::header_limit)
      return send(
          error_response(beast_http::status::request_header_fields_too_large, "too_large",
                         "request line and headers over " + std::to_string(options_.max_header_bytes) + " bytes"),
          true);
    if (ec) return send(error_response(beast_http::status::bad_request, "invalid", "malformed HTTP request"), true);
    const Request req = parser_->release();  // handlers copy what they keep
    const bool close = !req.keep_alive();
    writing_ = true;  // busy until the answer is written (a long-poll may answer later)
    router_.dispatch(
        req,
        [self = shared_from_this(), close](Response response) {
          auto shared = std::make_shared<Response>(std::move(response));
          net::dispatch(self->stream_.get_executor(), [self, shared, close] { self->send(std::move(*shared), close); });
        },
        // Valid until the answer: the socket stays open while a response is pending (writing_).
        [fd = stream_.socket().native_handle()] { return peer_closed(fd); });
  }

  void send(Response response, bool close) {
    writing_ = true;
    std::visit(
        [&](auto& res) {
          using R = std::decay_t<decltype(res)>;
          if (close) res.keep_alive(false);
          auto sp = std::make_shared<R>(std::move(res));
          const bool need_eof = close || sp->need_eof();
          stream_.expires_after(options_.write_timeout);
          beast_http::async_write(stream_, *sp,
                                  [self = shared_from_this(), sp, need_eof](beast::error_code ec, std::size_t) {
                                    self->on_write(ec, need_eof);
                                  });
        },
        response);
  }

  void on_write(beast::error_code ec, bool need_eof) {
    writing_ = false;
    if (ec || stopping_) return do_close();
    if (need_eof) return linger();
    do_read();
  }

  // Half-closes, then discards what the client still sends until it closes, stays silent for
  // linger_timeout, or read_timeout passes in all; closing with unread bytes would make the kernel
  // reset the connection, and a client still writing its (refused) body would lose the answer.
  void linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return do_close();
    linger_until_ = std::chrono::steady_clock::now() + options_.read_timeout;
    drain();
  }

  void drain() {
    if (stopping_) return do_close();
    const auto left = linger_until_ - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return do_close();
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(options_.linger_timeout, left));
    stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->do_close();
      self->drain();
    });
  }

  void do_close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::array<char, std::size_t{16} * 1024> discard_;  // lingering close reads into this
  std::chrono::steady_clock::time_point linger_until_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  const ServerOptions& options_;
  const Router& router_;
  bool writing_ = false;
  bool stopping_ = false;
  bool closed_ = false;
};

HttpServer::HttpServer(net::io_context& ioc, ServerOptions options, const Router& router)
    : ioc_(ioc), options_(std::move(options)), router_(router), acceptor_(net::make_strand(ioc)) {
  beast::error_code ec;
  const auto address = net::ip::make_address(options_.address, ec);
  if (ec) throw Error(ErrorCode::invalid, "--listen: bad address '" + options_.address + "': " + ec.message());
  const tcp::endpoint endpoint{address, options_.port};
  const std::string where = options_.address + ":" + std::to_string(options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw Error(ErrorCode::unavailable, "cannot listen on " + where + ": " + ec.message());
  endpoint_ = acceptor_.local_endpoint();
}

HttpServer::~HttpServer() = default;

void HttpServer::start() {
  net::dispatch(acceptor_.get_executor(), [this] { do_accept(); });
}

void HttpServer::do_accept() {
  acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&HttpServer::on_accept, this));
}

void HttpServer::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (!ec) {
    auto session = std::make_shared<Session>(std::move(socket), options_, router_);
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
      sessions_.push_back(session);
    }
    session->run();
  }
  do_accept();  // errors such as too many open files: keep accepting
}

void HttpServer::stop() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& w : sessions_)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  net::dispatch(acceptor_.get_executor(), [this] {
    beast::error_code ec;
    acceptor_.close(ec);
  });
  for (auto& s : live) s->shutdown();
}

std::size_t HttpServer::open_connections() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& w : sessions_) n += !w.expired();
  return n;
}

}  // namespace trellis::http
