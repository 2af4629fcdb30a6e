#include "protocol/http_client.h"

#include <map>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

HttpClient::HttpClient(ClientOptions options) : options_(std::move(options)) {
  const std::string& url = options_.server;
  constexpr std::string_view kScheme = "http://";
  if (url.compare(0, kScheme.size(), kScheme) != 0)
    throw Error(ErrorCode::invalid, "server URL '" + url + "': expected http://HOST:PORT");
  std::string rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    prefix_ = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.back() == ']') {
    host_ = rest;
    port_ = "80";
  } else {
    host_ = rest.substr(0, colon);
    port_ = rest.substr(colon + 1);
  }
  if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
  if (host_.empty() || port_.empty())
    throw Error(ErrorCode::invalid, "server URL '" + url + "': expected http://HOST:PORT");
}

namespace {

// Runs one request on a fresh connection. `on_header` sees the parsed header and may switch the
// body to a file; returns the reply.
struct Exchange {
  const ClientOptions& options;
  std::string host, port, target;
  bhttp::verb method = bhttp::verb::get;
  const std::string* body = nullptr;                            // sent when not null
  const std::map<std::string, std::string>* headers = nullptr;  // extra request headers

  template <typename ReadBody>
  ClientReply run(ReadBody&& read_body) const {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    const std::string where = options.server + target;
    beast::error_code result;
    tcp::resolver resolver(ioc);
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, host);
    req.set(bhttp::field::user_agent, "trellis");
    if (!options.token.empty()) req.set(bhttp::field::authorization, "Bearer " + options.token);
    if (body) req.set(bhttp::field::content_type, "application/json");
    if (headers)
      for (const auto& [name, value] : *headers) req.set(name, value);
    if (body) {
      req.body() = *body;
      req.prepare_payload();
    }
    beast::flat_buffer buffer;
    ClientReply reply;
    std::optional<bhttp::response_parser<bhttp::empty_body>> header;
    std::string step = "resolve";
    resolver.async_resolve(host, port, [&](beast::error_code ec, tcp::resolver::results_type results) {
      if (ec) return void(result = ec);
      step = "connect";
      stream.expires_after(options.timeout);
      stream.async_connect(results, [&](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return void(result = ec);
        step = "send the request";
        stream.expires_after(options.timeout);
        bhttp::async_write(stream, req, [&](beast::error_code ec, std::size_t) {
          if (ec) return void(result = ec);
          step = "read the response";
          header.emplace();
          header->body_limit(options.max_body_bytes);
          stream.expires_after(options.timeout);
          bhttp::async_read_header(stream, buffer, *header, [&](beast::error_code ec, std::size_t) {
            if (ec) return void(result = ec);
            reply.status = header->get().result_int();
            if (auto it = header->get().find(bhttp::field::etag); it != header->get().end())
              reply.etag = std::string(it->value());
            if (header->content_length()) reply.content_length = *header->content_length();
            read_body(stream, buffer, *header, reply, result);
          });
        });
      });
    });
    ioc.run();
    if (result == beast::error::timeout) throw Error(ErrorCode::unavailable, where + ": timed out (" + step + ")");
    if (result == bhttp::error::partial_message || result == net::error::eof)
      throw Error(ErrorCode::unavailable,
                  where + ": the connection closed before the whole response arrived (truncated)");
    if (result) throw Error(ErrorCode::unavailable, where + ": cannot " + step + ": " + result.message());
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return reply;
  }
};

template <typename Header>
void read_string_body(beast::tcp_stream& stream, beast::flat_buffer& buffer, Header& header, ClientReply& reply,
                      beast::error_code& result, std::uint64_t limit) {
  auto parser = std::make_shared<bhttp::response_parser<bhttp::string_body>>(std::move(header));
  parser->body_limit(limit);
  bhttp::async_read(stream, buffer, *parser, [parser, &reply, &result](beast::error_code ec, std::size_t) {
    if (ec) return void(result = ec);
    reply.body = std::move(parser->get().body());
  });
}

}  // namespace

ClientReply HttpClient::get(const std::string& target) const {
  Exchange ex{options_, host_, port_, prefix_ + target};
  return ex.run([&](beast::tcp_stream& stream, beast::flat_buffer& buffer, auto& header, ClientReply& reply,
                    beast::error_code& result) { read_string_body(stream, buffer, header, reply, result, 16u << 20); });
}

ClientReply HttpClient::post(const std::string& target, const std::string& body,
                             const std::map<std::string, std::string>& headers) const {
  Exchange ex{options_, host_, port_, prefix_ + target, bhttp::verb::post, &body, &headers};
  return ex.run([&](beast::tcp_stream& stream, beast::flat_buffer& buffer, auto& header, ClientReply& reply,
                    beast::error_code& result) { read_string_body(stream, buffer, header, reply, result, 16u << 20); });
}

ClientReply HttpClient::get_to_file(const std::string& target, const std::filesystem::path& file) const {
  Exchange ex{options_, host_, port_, prefix_ + target};
  return ex.run([&](beast::tcp_stream& stream, beast::flat_buffer& buffer, auto& header, ClientReply& reply,
                    beast::error_code& result) {
    if (reply.status != 200) return read_string_body(stream, buffer, header, reply, result, 1u << 20);
    if (!header.content_length()) {
      result = bhttp::error::bad_content_length;
      return;
    }
    auto parser = std::make_shared<bhttp::response_parser<bhttp::file_body>>(std::move(header));
    parser->body_limit(options_.max_body_bytes);
    beast::error_code ec;
    parser->get().body().open(file.c_str(), beast::file_mode::write, ec);
    if (ec) throw Error(ErrorCode::io, "cannot write " + file.string() + ": " + ec.message());
    stream.expires_after(options_.timeout);
    bhttp::async_read(stream, buffer, *parser, [parser, &result](beast::error_code ec, std::size_t) {
      if (ec) result = ec;
      parser->get().body().close();
    });
  });
}

std::string HttpClient::error_message(const ClientReply& reply) {
  const auto json = nlohmann::json::parse(reply.body, nullptr, false);
  if (json.is_object() && json.contains("error") && json["error"].is_object() && json["error"].contains("message") &&
      json["error"]["message"].is_string())
    return json["error"]["message"].get<std::string>();
  return reply.body.substr(0, 500);
}

}  // namespace trellis::http
