// Every job and worker route under a failing store: for each route, the store fails on its 1st,
// 2nd, ... call (FailingJobStore) until the route makes fewer calls than that and succeeds. Each
// injected failure must answer 500 with error code "io" and the store's message, and afterwards
// the API must go on serving (the next request succeeds, the failed call changed nothing).
#include "tests/unit/coordinator/api/job_api_fixture.h"

namespace trellis::testing {
namespace {

class StorageFailureTest : public JobApiFixture {
 protected:
  // A route call made against fresh state: `prepare` runs with the store healthy and returns the
  // call to make under failure injection.
  struct Scenario {
    std::string name;
    std::function<std::function<Response()>()> prepare;
  };

  // A job of its own for each attempt, leased first (higher priority than any leftover).
  std::string fresh_job() { return submit({{"spec", spec()}, {"priority", ++priority_}})["id"]; }
  std::pair<std::string, std::string> leased_job() {
    const std::string id = fresh_job();
    if (group_.empty()) group_ = register_group();
    auto r = post("/v1/groups/" + group_ + "/lease", nlohmann::json::object(), kWorker);
    EXPECT_EQ(status(r), 200u) << body(r);
    EXPECT_EQ(json(r)["job"]["id"], id);
    return {id, json(r)["lease_id"].get<std::string>()};
  }

  std::vector<Scenario> scenarios() {
    return {
        {"POST /v1/jobs", [this] { return [this] { return post("/v1/jobs", spec()); }; }},
        {"GET /v1/jobs",
         [this] {
           fresh_job();
           return [this] { return call(bhttp::verb::get, "/v1/jobs?limit=5"); };
         }},
        {"GET /v1/jobs/{id}",
         [this] {
           const std::string id = fresh_job();
           return [this, id] { return call(bhttp::verb::get, "/v1/jobs/" + id); };
         }},
        {"POST /v1/jobs/{id}/cancel",
         [this] {
           const std::string id = fresh_job();
           return [this, id] { return call(bhttp::verb::post, "/v1/jobs/" + id + "/cancel"); };
         }},
        {"GET /v1/jobs/{id}/events",
         [this] {
           const std::string id = fresh_job();
           return [this, id] { return call(bhttp::verb::get, "/v1/jobs/" + id + "/events?wait=0"); };
         }},
        {"POST /v1/groups",
         [this] {
           return [this] {
             return post("/v1/groups", {{"backbone_name", "tiny-bert"}, {"backbone_sha256", kSha}, {"world_size", 1}},
                         kWorker);
           };
         }},
        {"POST /v1/groups/{group}/lease",
         [this] {
           fresh_job();
           if (group_.empty()) group_ = register_group();
           return [this] { return post("/v1/groups/" + group_ + "/lease?wait=0", nlohmann::json::object(), kWorker); };
         }},
        {"POST /v1/jobs/{id}/heartbeat",
         [this] {
           const auto [id, lease] = leased_job();
           return [this, id, lease] {
             return post("/v1/jobs/" + id + "/heartbeat", {{"lease_id", lease}, {"step", 1}, {"total_steps", 4}},
                         kWorker);
           };
         }},
        {"POST /v1/jobs/{id}/complete",
         [this] {
           const auto [id, lease] = leased_job();
           const std::string artifact = publish_for(id);
           return [this, id, lease, artifact] {
             return post("/v1/jobs/" + id + "/complete", {{"lease_id", lease}, {"artifact", artifact}}, kWorker);
           };
         }},
        {"POST /v1/jobs/{id}/fail",
         [this] {
           const auto [id, lease] = leased_job();
           return [this, id, lease] {
             return post("/v1/jobs/" + id + "/fail",
                         {{"lease_id", lease}, {"error", {{"code", "oom"}, {"message", "m"}}}, {"retryable", false}},
                         kWorker);
           };
         }},
        {"POST /v1/jobs/{id}/cancelled",
         [this] {
           const auto [id, lease] = leased_job();
           EXPECT_EQ(status(call(bhttp::verb::post, "/v1/jobs/" + id + "/cancel")), 200u);
           return [this, id, lease] { return post("/v1/jobs/" + id + "/cancelled", {{"lease_id", lease}}, kWorker); };
         }},
        {"DELETE /v1/files/{id}",
         [this] {
           const std::string file = upload("{\"text\": \"x" + std::to_string(++priority_) + "\", \"label\": \"a\"}\n");
           return [this, file] { return call(bhttp::verb::delete_, "/v1/files/" + file, "", kAdmin); };
         }},
        {"GET /metrics", [this] { return [this] { return call(bhttp::verb::get, "/metrics", "", kWorker); }; }},
    };
  }

  int priority_ = 0;
  std::string group_;
};

TEST_F(StorageFailureTest, EveryStoreCallOfEveryRouteFailsAs500IoAndTheApiGoesOn) {
  for (const Scenario& scenario : scenarios()) {
    int injected = 0;
    for (int64_t n = 1;; ++n) {
      ASSERT_LT(n, 20) << scenario.name << ": more store calls than any route makes";
      store_->reset();
      const auto request = scenario.prepare();
      store_->fail_at(n);
      const Response r = request();
      const bool fired = store_->failed();
      store_->reset();
      if (!fired) {
        EXPECT_LT(status(r), 300u) << scenario.name << " without a failure: " << body(r);
        break;
      }
      ++injected;
      EXPECT_EQ(status(r), 500u) << scenario.name << ", store call " << n << ": " << body(r);
      if (status(r) == 500u) {
        EXPECT_EQ(json(r)["error"]["code"], "io") << scenario.name << ", store call " << n;
        EXPECT_NE(message(r).find("injected storage failure"), std::string::npos) << message(r);
      }
      auto next = call(bhttp::verb::get, "/v1/jobs?limit=1");
      EXPECT_EQ(status(next), 200u) << "after " << scenario.name << ", store call " << n << ": " << body(next);
    }
    EXPECT_GE(injected, 1) << scenario.name << " never called the store";
  }
}

// A failed mutation changes nothing: the job keeps its state and can still make the move after.
TEST_F(StorageFailureTest, AFailedCompleteLeavesTheJobLeasedAndItCompletesAfter) {
  const auto [id, lease] = leased_job();
  const std::string artifact = publish_for(id);
  for (int64_t n = 1; n <= 2; ++n) {  // the registry check's read, then the store's complete
    store_->fail_at(n);
    EXPECT_EQ(status(post("/v1/jobs/" + id + "/complete", {{"lease_id", lease}, {"artifact", artifact}}, kWorker)),
              500u);
    store_->reset();
    EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs/" + id))["state"], "leased");
  }
  auto done = post("/v1/jobs/" + id + "/complete", {{"lease_id", lease}, {"artifact", artifact}}, kWorker);
  ASSERT_EQ(status(done), 200u) << body(done);
  EXPECT_EQ(json(done)["state"], "succeeded");
}

}  // namespace
}  // namespace trellis::testing
