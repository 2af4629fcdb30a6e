#pragma once
// JobApiFixture: the job API and the worker protocol called with request objects (no network): an
// in-memory store behind a FailingJobStore (no failures unless a test asks), a fake clock, a real
// file store and a real registry in a temporary directory, the job service, and the change feed on
// an io_context running in a background thread (long-polls wake on changes, not on their deadline).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "coordinator/api/file_retention.h"
#include "coordinator/api/job_api.h"
#include "coordinator/api/metrics.h"
#include "coordinator/http/router.h"
#include "coordinator/store/memory_job_store.h"
#include "common/sha256.h"
#include "tests/support/failing_job_store.h"
#include "tests/unit/registry/registry_test_support.h"

namespace trellis::testing {

namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;
using Clock = std::chrono::steady_clock;

constexpr const char* kUser = "user-token-0123456789";
constexpr const char* kWorker = "worker-token-0123456789";
constexpr const char* kAdmin = "admin-token-0123456789";
const std::string kSha(64, 'a');
const std::string kOtherSha(64, 'b');

class JobApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("trellis-job-routes-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(dir_);
    files_ = std::make_unique<api::FileStore>(dir_ / "files");
    catalog_.add("tiny-bert", kSha);
    catalog_.add("other-bert", kOtherSha);
    memory_store_ = std::make_unique<MemoryJobStore>(clock_);
    store_ = std::make_unique<FailingJobStore>(*memory_store_);
    feed_ = std::make_unique<api::ChangeFeed>(ioc_.get_executor());
    registry_ = std::make_unique<ArtifactRegistry>(RegistryOptions{.root = dir_ / "registry", .create = true});
    jobs_ = std::make_unique<jobs::JobService>(*store_, *registry_,
                                               [this](const std::string& topic) { feed_->notify(topic); });
    api_ =
        std::make_unique<api::JobApi>(api::JobApi{*jobs_, *store_, *files_, *feed_, catalog_, std::chrono::seconds(30),
                                                  std::chrono::seconds(5), 3, std::chrono::seconds(60)});
    tokens_.add(kUser, http::Role::user);
    tokens_.add(kWorker, http::Role::worker);
    tokens_.add(kAdmin, http::Role::admin);
    router_ = std::make_unique<http::Router>(tokens_);
    router_->set_observer([this](const std::string& route, bhttp::verb m, unsigned s, double secs) {
      metrics_.observe(route, m, s, secs);
    });
    api::add_file_routes(*router_, *api_);
    api::add_job_routes(*router_, *api_);
    api::add_worker_routes(*router_, *api_);
    api::add_metrics_route(*router_, *api_, metrics_, std::chrono::seconds(90));
    io_thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    work_.reset();
    ioc_.stop();
    io_thread_.join();
    std::filesystem::remove_all(dir_);
  }

  Response call(bhttp::verb method, const std::string& target, const std::string& body = "", const char* token = kUser,
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    Request req{method, target, 11};
    if (token) req.set(bhttp::field::authorization, std::string("Bearer ") + token);
    for (auto& [f, v] : headers) req.set(f, v);
    req.body() = body;
    req.prepare_payload();
    return router_->handle(req);
  }
  Response post(const std::string& target, const nlohmann::json& body, const char* token = kUser) {
    return call(bhttp::verb::post, target, body.dump(), token);
  }
  static unsigned status(const Response& r) { return static_cast<unsigned>(http::status_of(r)); }
  static std::string body(const Response& r) {
    if (auto* s = std::get_if<http::StringResponse>(&r)) return s->body();
    return "";
  }
  static nlohmann::json json(const Response& r) { return nlohmann::json::parse(body(r)); }
  static std::string message(const Response& r) { return json(r)["error"]["message"].get<std::string>(); }

  std::string upload(const std::string& bytes) {
    auto r = call(bhttp::verb::post, "/v1/files", bytes);
    EXPECT_TRUE(status(r) == 201 || status(r) == 200) << body(r);
    return json(r)["id"].get<std::string>();
  }
  nlohmann::json spec(const std::string& task = "sent", const std::string& backbone = "tiny-bert") {
    if (train_id_.empty()) train_id_ = upload("{\"text\": \"good\", \"label\": \"pos\"}\n");
    return {{"task", task}, {"backbone", backbone}, {"data", {{"train", "file:" + train_id_}}}};
  }
  nlohmann::json submit(const nlohmann::json& body) {
    auto r = post("/v1/jobs", body);
    EXPECT_EQ(status(r), 201u) << body.dump() << " -> " << this->body(r);
    return json(r);
  }
  std::string register_group(const std::string& sha = kSha) {
    auto r = post("/v1/groups",
                  {{"backbone_name", "tiny-bert"},
                   {"backbone_sha256", sha},
                   {"world_size", 2},
                   {"devices", {"cpu", "cpu"}},
                   {"host", "localhost"}},
                  kWorker);
    EXPECT_EQ(status(r), 201u) << body(r);
    return json(r)["group_id"].get<std::string>();
  }
  size_t job_count() { return store_->list(ListQuery{}).size(); }
  // Publishes a version of `task` made by job `job_id` (what a worker does before complete).
  std::string publish_for(const std::string& job_id, const std::string& task = "sent") {
    ArtifactManifest manifest = test_manifest(task);
    manifest.job_id = job_id;
    return task + "@" + std::to_string(registry_->publish(task, manifest, tensor_bytes(1)).version);
  }

  static inline int counter_ = 0;
  std::filesystem::path dir_;
  FakeClock clock_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{ioc_.get_executor()};
  std::thread io_thread_;
  std::unique_ptr<api::FileStore> files_;
  api::BackboneCatalog catalog_;
  std::unique_ptr<MemoryJobStore> memory_store_;
  std::unique_ptr<FailingJobStore> store_;
  std::unique_ptr<api::ChangeFeed> feed_;
  std::unique_ptr<ArtifactRegistry> registry_;
  std::unique_ptr<jobs::JobService> jobs_;
  std::unique_ptr<api::JobApi> api_;
  api::RequestMetrics metrics_;
  http::TokenStore tokens_;
  std::unique_ptr<http::Router> router_;
  std::string train_id_;
};

}  // namespace trellis::testing
