// HttpServer on loopback: a request cut off after every byte (the client closes) never stops the
// server; body and header limits; keep-alive; stop() lets run() return. Bounded: 5 s timeouts.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include "coordinator/api/adapter_routes.h"
#include "protocol/http_client.h"
#include "coordinator/http/http_server.h"
#include "common/error.h"

namespace trellis::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api::add_health_route(router_);
    ServerOptions options;
    options.max_body_bytes = 64;
    options.max_header_bytes = 1024;
    options.read_timeout = std::chrono::seconds(5);
    server_ = std::make_unique<HttpServer>(ioc_, options, router_);
    server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();  // run() returns once every connection is gone
  }
  // Sends `bytes`, half-closes, returns all the server answered (until it closed).
  std::string exchange(const std::string& bytes, bool half_close = true) {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(server_->local_endpoint());
    net::write(s, net::buffer(bytes));
    boost::system::error_code ec;
    if (half_close) s.shutdown(tcp::socket::shutdown_send, ec);  // fails if the server reset us
    std::string out;
    net::read(s, net::dynamic_buffer(out), ec);
    return out;
  }

  net::io_context ioc_;
  TokenStore tokens_;
  Router router_{tokens_};
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(HttpServerTest, RequestCutAfterEveryByteNeverStopsTheServer) {
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (size_t n = 0; n < request.size(); ++n) {
    const std::string answer = exchange(request.substr(0, n));
    // A prefix is either nothing (closed quietly) or a 400 for a malformed start.
    EXPECT_TRUE(answer.empty() || answer.rfind("HTTP/1.1 400", 0) == 0) << n << ": " << answer;
  }
  EXPECT_EQ(exchange(request).rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  const std::string one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string last = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string answer = exchange(one + one + last, false);
  size_t count = 0;
  for (size_t pos = answer.find("HTTP/1.1 200"); pos != std::string::npos; pos = answer.find("HTTP/1.1 200", pos + 1))
    ++count;
  EXPECT_EQ(count, 3u) << answer;
}

TEST_F(HttpServerTest, LimitsAnswer413And431) {
  EXPECT_EQ(exchange("PUT /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 65\r\n\r\n" + std::string(65, 'a'))
                .rfind("HTTP/1.1 413", 0),
            0u);
  EXPECT_EQ(exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + std::string(2000, 'a') + "\r\n\r\n")
                .rfind("HTTP/1.1 431", 0),
            0u);
  EXPECT_EQ(exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
}

// A client still sending a refused body reads the 413 (lingering close), not a reset, whether the
// server answers before or after the last byte arrives.
TEST_F(HttpServerTest, RefusedLargeBodyStillGetsItsAnswer) {
  const std::string body(8 << 20, 'a');  // more than the socket buffers hold
  const std::string answer = exchange(
      "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
}

// A slow client (a refused upload over a slow link) that keeps sending for longer than
// linger_timeout, pausing less than that between writes, still reads its 413.
TEST_F(HttpServerTest, RefusedBodySentSlowlyStillGetsItsAnswer) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(server_->local_endpoint());
  net::write(s, net::buffer(std::string("POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")));
  const std::string chunk(64 * 1024, 'a');
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);  // over linger_timeout
  boost::system::error_code ec;
  while (!ec && std::chrono::steady_clock::now() < until) {
    net::write(s, net::buffer(chunk), ec);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_FALSE(ec) << "the server stopped draining: " << ec.message();
  s.shutdown(tcp::socket::shutdown_send, ec);
  std::string answer;
  net::read(s, net::dynamic_buffer(answer), ec);
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
}

TEST_F(HttpServerTest, OverlongUrlIs431) {
  EXPECT_EQ(exchange("GET /v1/" + std::string(3000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 431", 0),
            0u);
}

// Thousands of idle connections (some mid-request) do not keep a new client from being served.
TEST_F(HttpServerTest, ThousandsOfIdleConnectionsDoNotBlockNewOnes) {
  // Both ends live in this process: 2 descriptors per connection.
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < 6100)
    GTEST_SKIP() << "needs 6100 open files, the hard limit is " << lim.rlim_cur;
  net::io_context ioc;
  std::vector<std::unique_ptr<tcp::socket>> idle;
  for (int i = 0; i < 3000; ++i) {
    auto s = std::make_unique<tcp::socket>(ioc);
    s->connect(server_->local_endpoint());
    if (i % 2) net::write(*s, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHo")));
    idle.push_back(std::move(s));
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(exchange("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
  EXPECT_GE(server_->open_connections(), 3000u);
}

// A client that stalls mid-request loses its connection when the read timeout passes.
TEST(HttpServerTimeoutTest, StalledClientIsDisconnected) {
  net::io_context ioc;
  TokenStore tokens;
  Router router{tokens};
  api::add_health_route(router);
  ServerOptions options;
  options.read_timeout = std::chrono::seconds(1);
  HttpServer server(ioc, options, router);
  server.start();
  std::thread thread([&] { ioc.run(); });
  net::io_context client;
  tcp::socket s(client);
  s.connect(server.local_endpoint());
  net::write(s, net::buffer(std::string("GET /healthz HTTP/1.1\r\nHost")));
  const auto t0 = std::chrono::steady_clock::now();
  std::string out;
  boost::system::error_code ec;
  net::read(s, net::dynamic_buffer(out), ec);  // returns when the server closes
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(ec) << "the server should have closed the connection";
  EXPECT_GE(waited, 0.5);
  EXPECT_LT(waited, 4.0);
  server.stop();
  thread.join();
}

// An asynchronous route learns that its client went away while it waited (ClientGone), and a
// client that is still there is not reported gone.
TEST(HttpServerClientGoneTest, AsyncRouteSeesItsClientLeave) {
  net::io_context ioc;
  TokenStore tokens;
  Router router{tokens};
  std::mutex mutex;
  std::vector<std::pair<ClientGone, Responder>> waiting;
  router.add_async(beast_http::verb::get, "/wait", {}, [&](const Request&, RouteContext ctx, Responder done) {
    std::lock_guard lock(mutex);
    waiting.emplace_back(std::move(ctx.client_gone), std::move(done));
  });
  HttpServer server(ioc, ServerOptions{}, router);
  server.start();
  std::thread thread([&] { ioc.run(); });
  const auto parked = [&](size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(mutex);
        if (waiting.size() >= n) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  net::io_context client;
  tcp::socket leaving(client), staying(client);
  leaving.connect(server.local_endpoint());
  net::write(leaving, net::buffer(std::string("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")));
  ASSERT_TRUE(parked(1));
  staying.connect(server.local_endpoint());
  net::write(staying, net::buffer(std::string("GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")));
  ASSERT_TRUE(parked(2));
  std::lock_guard lock(mutex);
  ASSERT_TRUE(waiting[0].first && waiting[1].first);
  EXPECT_FALSE(waiting[0].first());
  leaving.close();
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    seen = waiting[0].first();
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(seen) << "the closed connection was not noticed";
  EXPECT_FALSE(waiting[1].first());
  // Both are answered; the one still connected reads its answer.
  for (auto& [gone, done] : waiting) {
    StringResponse res{beast_http::status::no_content, 11};
    res.prepare_payload();
    done(std::move(res));
  }
  std::string answer;
  net::read_until(staying, net::dynamic_buffer(answer), "\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 204", 0), 0u) << answer;
  staying.close();
  server.stop();
  thread.join();
}

TEST_F(HttpServerTest, ClientReadsJsonAndReportsUnreachableServers) {
  ClientOptions options;
  options.server = "http://127.0.0.1:" + std::to_string(server_->local_endpoint().port());
  options.timeout = std::chrono::seconds(5);
  const auto reply = HttpClient(options).get("/healthz");
  EXPECT_EQ(reply.status, 200u);
  EXPECT_NE(reply.body.find("ok"), std::string::npos);
  EXPECT_EQ(HttpClient(options).get("/nope").status, 404u);
  ClientOptions ftp;
  ftp.server = "ftp://x";
  EXPECT_THROW(HttpClient{ftp}, trellis::Error);
  options.server = "http://127.0.0.1:1";  // nothing listens there
  EXPECT_THROW(HttpClient(options).get("/healthz"), trellis::Error);
}

// A server that promises 100 bytes and sends 10: get_to_file throws, naming the truncation.
TEST(HttpClientTest, TruncatedBodyIsAnError) {
  net::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  std::thread server([&] {
    tcp::socket s = acceptor.accept();
    std::string request;
    boost::system::error_code ec;
    net::read_until(s, net::dynamic_buffer(request), "\r\n\r\n", ec);
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nETag: \"x\"\r\n\r\n0123456789";
    net::write(s, net::buffer(head), ec);
    s.close();
  });
  ClientOptions options;
  options.server = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  options.timeout = std::chrono::seconds(5);
  const auto file = std::filesystem::temp_directory_path() / ("trellis-truncated-" + std::to_string(::getpid()));
  try {
    HttpClient(options).get_to_file("/f", file);
    ADD_FAILURE() << "no error";
  } catch (const trellis::Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  server.join();
  std::filesystem::remove(file);
}

}  // namespace
}  // namespace trellis::http
