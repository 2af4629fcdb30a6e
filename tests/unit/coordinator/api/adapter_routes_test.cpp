// The adapter routes called directly with request objects (no network): auth, every endpoint,
// error mapping, ranges, ETags, traversal attempts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/registry/registry_test_support.h"
#include "coordinator/api/adapter_routes.h"
#include "coordinator/http/router.h"
#include "common/files.h"
#include "common/sha256.h"

namespace trellis::testing {
namespace {

namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;

constexpr const char* kUser = "user-token-0123456789";
constexpr const char* kWorker = "worker-token-0123456789";
constexpr const char* kAdmin = "admin-token-0123456789";

class AdapterRoutesTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    registry_ = std::make_unique<ArtifactRegistry>(options());
    registry_->publish("sent", test_manifest("sent", 0.8), tensor_bytes(1));
    registry_->publish("sent", test_manifest("sent", 0.9), tensor_bytes(2));
    registry_->set_alias("sent", "prod", 1);
    tokens_.add(kUser, http::Role::user);
    tokens_.add(kWorker, http::Role::worker);
    tokens_.add(kAdmin, http::Role::admin);
    router_ = std::make_unique<http::Router>(tokens_);
    api::add_health_route(*router_);
    api::add_adapter_routes(*router_, *registry_);
  }

  Response call(bhttp::verb method, const std::string& target, const char* token = kUser, std::string body = "",
                std::vector<std::pair<bhttp::field, std::string>> headers = {}) {
    Request req{method, target, 11};
    if (token) req.set(bhttp::field::authorization, std::string("Bearer ") + token);
    for (auto& [f, v] : headers) req.set(f, v);
    req.body() = std::move(body);
    req.prepare_payload();
    return router_->handle(req);
  }
  static unsigned status(const Response& r) { return static_cast<unsigned>(http::status_of(r)); }
  static std::string body(const Response& r) {
    if (auto* s = std::get_if<http::StringResponse>(&r)) return s->body();
    ADD_FAILURE() << "a file response";
    return "";
  }
  static nlohmann::json json(const Response& r) { return nlohmann::json::parse(body(r)); }
  static std::string header(const Response& r, bhttp::field f) {
    return std::visit([&](const auto& res) { return std::string(res[f]); }, r);
  }
  static std::string error_code(const Response& r) { return json(r)["error"]["code"].get<std::string>(); }

  std::unique_ptr<ArtifactRegistry> registry_;
  http::TokenStore tokens_;
  std::unique_ptr<http::Router> router_;
};

TEST_F(AdapterRoutesTest, HealthNeedsNoToken) {
  const auto r = call(bhttp::verb::get, "/healthz", nullptr);
  EXPECT_EQ(status(r), 200u);
  EXPECT_EQ(json(r)["status"], "ok");
}

TEST_F(AdapterRoutesTest, MissingOrWrongTokenIs401AndNeverEchoed) {
  auto r = call(bhttp::verb::get, "/v1/adapters", nullptr);
  EXPECT_EQ(status(r), 401u);
  EXPECT_EQ(error_code(r), "unauthorized");
  r = call(bhttp::verb::get, "/v1/adapters", "not-a-token-at-all-xyz");
  EXPECT_EQ(status(r), 401u);
  EXPECT_EQ(body(r).find("not-a-token"), std::string::npos);
  Request req{bhttp::verb::get, "/v1/adapters", 11};
  req.set(bhttp::field::authorization, std::string("Basic ") + kUser);
  EXPECT_EQ(status(router_->handle(req)), 401u);
}

TEST_F(AdapterRoutesTest, WrongRoleIs403) {
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kWorker, R"({"version": 2})")), 403u);
  EXPECT_EQ(status(call(bhttp::verb::delete_, "/v1/adapters/sent/2", kUser)), 403u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/adapters", kWorker)), 200u);
}

TEST_F(AdapterRoutesTest, ListsTasksVersionsAndManifests) {
  auto j = json(call(bhttp::verb::get, "/v1/adapters"));
  ASSERT_EQ(j["tasks"].size(), 1u);
  EXPECT_EQ(j["tasks"][0]["task"], "sent");
  EXPECT_EQ(j["tasks"][0]["latest"], 2);
  EXPECT_DOUBLE_EQ(j["tasks"][0]["metrics"]["accuracy"].get<double>(), 0.9);
  j = json(call(bhttp::verb::get, "/v1/adapters/sent"));
  EXPECT_EQ(j["versions"].size(), 2u);
  EXPECT_EQ(j["aliases"]["prod"], 1);
  for (const std::string ref : {"1", "prod"}) {
    const auto r = call(bhttp::verb::get, "/v1/adapters/sent/" + ref);
    ASSERT_EQ(status(r), 200u) << body(r);
    EXPECT_EQ(json(r)["version"], 1);
  }
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/adapters/sent/latest"))["version"], 2);
}

TEST_F(AdapterRoutesTest, ErrorsMapToStatuses) {
  auto r = call(bhttp::verb::get, "/v1/adapters/nope");
  EXPECT_EQ(status(r), 404u);
  EXPECT_CONTAINS(body(r), "sent");  // lists what exists
  r = call(bhttp::verb::get, "/v1/adapters/sent/7");
  EXPECT_EQ(status(r), 404u);
  EXPECT_EQ(error_code(r), "not_found");
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/adapters/Bad%20Name")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/adapters/sent/007")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/nothing")), 404u);
  r = call(bhttp::verb::post, "/v1/adapters");
  EXPECT_EQ(status(r), 405u);
  EXPECT_EQ(header(r, bhttp::field::allow), "GET");
}

TEST_F(AdapterRoutesTest, TraversalAttemptsNeverReachAFile) {
  for (const std::string target :
       {"/v1/adapters/%2e%2e/1/files/adapter.safetensors", "/v1/adapters/sent/%2e%2e/files/adapter.safetensors",
        "/v1/adapters/sent/1/files/%2e%2e%2fmanifest.json", "/v1/adapters/sent/1/files/..",
        "/v1/adapters/sent/1/files/%2fetc%2fpasswd", "/v1/adapters/sent/1/files/tombstone.json",
        "/v1/adapters/sent/1/files/../../../../etc/passwd", "/v1/adapters/..%2f..%2fetc/1",
        "/v1/adapters/sent/1/files/adapter.safetensors%00", "/v1/adapters/sent/1/files/%zz"}) {
    const auto r = call(bhttp::verb::get, target);
    EXPECT_TRUE(status(r) == 400u || status(r) == 404u) << target << " -> " << status(r);
    EXPECT_TRUE(std::holds_alternative<http::StringResponse>(r)) << target;
  }
}

TEST_F(AdapterRoutesTest, FilesCarryTheirSha256AsETag) {
  const ResolvedVersion v = registry_->resolve("sent@2");
  auto r = call(bhttp::verb::get, "/v1/adapters/sent/latest/files/adapter.safetensors");
  ASSERT_EQ(status(r), 200u);
  ASSERT_TRUE(std::holds_alternative<http::FileResponse>(r));
  EXPECT_EQ(header(r, bhttp::field::etag), "\"" + v.manifest.adapter_sha256 + "\"");
  EXPECT_EQ(std::get<http::FileResponse>(r).body().size(), fs::file_size(v.adapter_path));
  r = call(bhttp::verb::get, "/v1/adapters/sent/2/files/manifest.json");
  ASSERT_EQ(status(r), 200u);
  EXPECT_EQ(header(r, bhttp::field::etag), "\"" + sha256_file_hex(v.manifest_path) + "\"");
  r = call(bhttp::verb::get, "/v1/adapters/sent/2/files/adapter.safetensors", kUser, "",
           {{bhttp::field::if_none_match, "\"" + v.manifest.adapter_sha256 + "\""}});
  EXPECT_EQ(status(r), 304u);
}

TEST_F(AdapterRoutesTest, RangesGive206Or416) {
  const ResolvedVersion v = registry_->resolve("sent@1");
  const auto bytes = read_binary_file(v.adapter_path);
  const std::string all(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const std::string target = "/v1/adapters/sent/1/files/adapter.safetensors";
  const std::string n = std::to_string(all.size());
  struct Case {
    std::string range, expect, content_range;
  } cases[] = {{"bytes=0-9", all.substr(0, 10), "bytes 0-9/" + n},
               {"bytes=10-", all.substr(10), "bytes 10-" + std::to_string(all.size() - 1) + "/" + n},
               {"bytes=-5", all.substr(all.size() - 5),
                "bytes " + std::to_string(all.size() - 5) + "-" + std::to_string(all.size() - 1) + "/" + n},
               {"bytes=3-100000", all.substr(3), "bytes 3-" + std::to_string(all.size() - 1) + "/" + n}};
  for (const auto& c : cases) {
    const auto r = call(bhttp::verb::get, target, kUser, "", {{bhttp::field::range, c.range}});
    ASSERT_EQ(status(r), 206u) << c.range;
    EXPECT_EQ(body(r), c.expect) << c.range;
    EXPECT_EQ(header(r, bhttp::field::content_range), c.content_range);
  }
  for (const std::string bad : {"bytes=" + n + "-", std::string("bytes=-0")}) {
    const auto r = call(bhttp::verb::get, target, kUser, "", {{bhttp::field::range, bad}});
    EXPECT_EQ(status(r), 416u) << bad;
    EXPECT_EQ(header(r, bhttp::field::content_range), "bytes */" + n);
  }
  // Unparsable or multiple ranges: the whole file.
  EXPECT_EQ(status(call(bhttp::verb::get, target, kUser, "", {{bhttp::field::range, "bytes=0-1,4-5"}})), 200u);
  EXPECT_EQ(status(call(bhttp::verb::get, target, kUser, "", {{bhttp::field::range, "items=0-1"}})), 200u);
}

TEST_F(AdapterRoutesTest, AliasesMoveAndRefuseBadBodies) {
  auto r = call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kUser, R"({"version": 2})");
  ASSERT_EQ(status(r), 200u) << body(r);
  EXPECT_EQ(registry_->aliases("sent").at("prod"), 2);
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kUser, R"({"version": 9})")), 409u);
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/sent/aliases/latest", kUser, R"({"version": 1})")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/nope/aliases/prod", kUser, R"({"version": 1})")), 404u);
  r = call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kUser, R"({"version": )");
  EXPECT_EQ(status(r), 400u);
  EXPECT_CONTAINS(body(r), "line 1");
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kUser, R"({"version": "2"})")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kUser, R"({"version": 2, "x": 1})")), 400u);
}

TEST_F(AdapterRoutesTest, AdminDeletesUnaliasedVersionsOnly) {
  auto r = call(bhttp::verb::delete_, "/v1/adapters/sent/1", kAdmin);
  EXPECT_EQ(status(r), 409u);  // prod points at it
  EXPECT_CONTAINS(body(r), "prod");
  r = call(bhttp::verb::delete_, "/v1/adapters/sent/2?reason=bad%20data", kAdmin);
  ASSERT_EQ(status(r), 200u) << body(r);
  EXPECT_EQ(json(r)["already_deleted"], false);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/adapters/sent/2")), 404u);
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/adapters/sent"))["versions"][1]["state"], "deleted");
  EXPECT_EQ(status(call(bhttp::verb::delete_, "/v1/adapters/sent/latest", kAdmin)), 400u);
  EXPECT_EQ(status(call(bhttp::verb::delete_, "/v1/adapters/sent/9", kAdmin)), 404u);
  EXPECT_EQ(status(call(bhttp::verb::put, "/v1/adapters/sent/aliases/prod", kAdmin, R"({"version": 2})")), 409u);
}

TEST(TokenStoreTest, ConfigErrorsNeverShowTokens) {
  EXPECT_THROW(
      http::TokenStore::from_json(nlohmann::json::parse(R"({"tokens": [{"token": "short", "role": "user"}]})"), "f"),
      Error);
  try {
    http::TokenStore::from_json(
        nlohmann::json::parse(R"({"tokens": [{"token": "secret-secret-secret", "role": "root"}]})"), "f");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("secret-secret"), std::string::npos) << e.what();
  }
  const auto store = http::TokenStore::from_json(
      nlohmann::json::parse(R"({"tokens": [{"token": "secret-secret-secret", "role": "admin"}]})"), "f");
  EXPECT_EQ(store.role_of("secret-secret-secret"), http::Role::admin);
  EXPECT_FALSE(store.role_of("secret-secret-secreT"));
}

}  // namespace
}  // namespace trellis::testing
