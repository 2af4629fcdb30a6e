// trellis_bench_submit: a bounded load generator for POST /v1/jobs. C clients (threads), each
// with one keep-alive connection, submit the same job body until N requests in total were sent
// or D seconds passed; prints one JSON line: requests, errors, seconds, jobs/s, latency p50/p90/p99
// (ms). Loopback only; driven by bench/job_api.py, which starts the coordinator.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/files.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

int main(int argc, char** argv) {
  CLI::App app{"trellis_bench_submit: concurrent POST /v1/jobs on loopback"};
  std::string host = "127.0.0.1", port, token_file, body_file;
  int clients = 32, max_requests = 20000;
  double max_seconds = 20;
  app.add_option("--host", host);
  app.add_option("--port", port)->required();
  app.add_option("--token-file", token_file)->required();
  app.add_option("--body", body_file, "The job JSON to submit")->required();
  app.add_option("--clients", clients)->check(CLI::Range(1, 1024));
  app.add_option("--requests", max_requests, "Stop after this many requests in total")->check(CLI::PositiveNumber);
  app.add_option("--seconds", max_seconds, "Stop after this long")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  std::string token = trellis::read_text_file(token_file);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  const std::string body = trellis::read_text_file(body_file);

  std::atomic<int> issued{0}, errors{0};
  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::string first_error;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(max_seconds));
  auto client = [&] {
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.connect(resolver.resolve(host, port));
    beast::flat_buffer buffer;
    std::vector<double> mine;
    while (issued.fetch_add(1) < max_requests && std::chrono::steady_clock::now() < deadline) {
      bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/v1/jobs", 11};
      req.set(bhttp::field::host, host);
      req.set(bhttp::field::authorization, "Bearer " + token);
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
      const auto t0 = std::chrono::steady_clock::now();
      bhttp::response<bhttp::string_body> res;
      beast::error_code ec;
      bhttp::write(stream, req, ec);
      if (!ec) bhttp::read(stream, buffer, res, ec);
      mine.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (ec || res.result_int() != 201) {
        ++errors;
        std::lock_guard lock(mutex);
        if (first_error.empty()) first_error = ec ? ec.message() : std::to_string(res.result_int()) + " " + res.body();
        if (ec) break;
      }
    }
    std::lock_guard lock(mutex);
    latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i) threads.emplace_back(client);
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * latencies_ms.size()))];
  };
  nlohmann::json out = {{"clients", clients},
                        {"requests", latencies_ms.size()},
                        {"errors", errors.load()},
                        {"seconds", seconds},
                        {"jobs_per_s", (latencies_ms.size() - errors.load()) / seconds},
                        {"p50_ms", pct(0.50)},
                        {"p90_ms", pct(0.90)},
                        {"p99_ms", pct(0.99)},
                        {"max_ms", latencies_ms.empty() ? 0.0 : latencies_ms.back()}};
  if (!first_error.empty()) out["first_error"] = first_error.substr(0, 300);
  std::cout << out.dump() << std::endl;
  return errors.load() == 0 ? 0 : 1;
}
