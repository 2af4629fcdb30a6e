// The job API and the worker protocol called with request objects (no network), on JobApiFixture.
#include "tests/unit/coordinator/api/job_api_fixture.h"

namespace trellis::testing {
namespace {

class JobRoutesTest : public JobApiFixture {};

// DELETE /v1/files/{id}: admins only; never a live job's data; afterwards the file is gone for
// downloads and submits. The retention sweep keeps live jobs' files however old.
TEST_F(JobRoutesTest, FileRemovalSparesLiveJobsData) {
  const std::string job_id = submit({{"spec", spec("sent")}})["id"];
  const std::string spare = upload("{\"text\": \"spare\", \"label\": \"neg\"}\n");
  const auto del = [&](const std::string& id, const char* token = kAdmin) {
    return call(bhttp::verb::delete_, "/v1/files/" + id, "", token);
  };
  // Everything is unused since a day ago, so only the guards below can keep a file.
  const auto day_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(24);
  for (const auto& id : {train_id_, spare})
    std::filesystem::last_write_time(dir_ / "files" / id.substr(0, 2) / id, day_ago);
  EXPECT_EQ(status(del(train_id_, kUser)), 403u);
  auto r = del(train_id_);
  EXPECT_EQ(status(r), 409u);
  EXPECT_NE(message(r).find(job_id), std::string::npos) << message(r);
  EXPECT_EQ(status(del(std::string(64, 'c'))), 404u);
  EXPECT_EQ(status(del("not-a-file-id")), 400u);
  // The sweep: the queued job's file stays, the spare one goes.
  const api::SweepResult swept = api::sweep_files(*api_, std::chrono::hours(1));
  EXPECT_EQ(swept.files_removed, 1u);
  EXPECT_EQ(swept.files_kept, 1u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/files/" + spare, "", kWorker)), 404u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/files/" + train_id_, "", kWorker)), 200u);
  // Once the job has ended, its file may go.
  ASSERT_EQ(status(call(bhttp::verb::post, "/v1/jobs/" + job_id + "/cancel")), 200u);
  EXPECT_EQ(status(del(train_id_)), 204u);
  EXPECT_EQ(status(del(train_id_)), 404u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/files/" + train_id_, "", kWorker)), 404u);
  r = post("/v1/jobs", {{"spec", spec("sent")}});
  EXPECT_EQ(status(r), 400u);
  EXPECT_NE(message(r).find("unknown file id"), std::string::npos) << message(r);
}

TEST_F(JobRoutesTest, FilesAreContentAddressed) {
  const std::string bytes = "{\"text\": \"x\", \"label\": \"y\"}\n";
  auto r = call(bhttp::verb::post, "/v1/files", bytes);
  ASSERT_EQ(status(r), 201u);
  EXPECT_EQ(json(r)["id"], sha256_hex(bytes));
  EXPECT_EQ(json(r)["bytes"], bytes.size());
  EXPECT_EQ(status(call(bhttp::verb::post, "/v1/files", bytes)), 200u);  // stored before
  auto got = call(bhttp::verb::get, "/v1/files/" + sha256_hex(bytes), "", kWorker);
  ASSERT_EQ(status(got), 200u);
  ASSERT_TRUE(std::holds_alternative<http::FileResponse>(got));
  EXPECT_EQ(std::get<http::FileResponse>(got).body().size(), bytes.size());
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/files/" + std::string(64, 'c'))), 404u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/files/..")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/files/%2e%2e%2fetc")), 400u);
}

TEST_F(JobRoutesTest, SubmitGetListAndQueuePosition) {
  const auto a = submit(spec("alpha"));
  const auto b = submit({{"spec", spec("beta")}, {"priority", 5}, {"max_attempts", 2}});
  EXPECT_EQ(a["state"], "queued");
  EXPECT_EQ(a["spec"]["data"]["train"], "file:" + train_id_);
  EXPECT_EQ(a["backbone_sha256"], kSha);
  EXPECT_EQ(b["priority"], 5);
  EXPECT_EQ(b["max_attempts"], 2);
  // Priority first: beta is next, alpha behind it.
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs/" + b["id"].get<std::string>()))["queue_position"], 0);
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs/" + a["id"].get<std::string>()))["queue_position"], 1);
  auto list = json(call(bhttp::verb::get, "/v1/jobs?limit=1"));
  ASSERT_EQ(list["jobs"].size(), 1u);
  EXPECT_EQ(list["jobs"][0]["id"], a["id"]);
  EXPECT_EQ(list["next"], a["id"]);
  list = json(call(bhttp::verb::get, "/v1/jobs?limit=1&after=" + a["id"].get<std::string>()));
  EXPECT_EQ(list["jobs"][0]["id"], b["id"]);
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs?task=beta"))["jobs"].size(), 1u);
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs?state=running"))["jobs"].size(), 0u);
}

TEST_F(JobRoutesTest, IdempotencyKeyGivesTheSameJob) {
  const std::string body = spec().dump();
  auto first = call(bhttp::verb::post, "/v1/jobs", body, kUser, {{"Idempotency-Key", "k-123"}});
  auto again = call(bhttp::verb::post, "/v1/jobs", body, kUser, {{"Idempotency-Key", "k-123"}});
  ASSERT_EQ(status(first), 201u);
  ASSERT_EQ(status(again), 200u);
  EXPECT_EQ(json(first)["id"], json(again)["id"]);
  auto other = call(bhttp::verb::post, "/v1/jobs", spec("other").dump(), kUser, {{"Idempotency-Key", "k-123"}});
  EXPECT_EQ(status(other), 409u);
  EXPECT_EQ(status(call(bhttp::verb::post, "/v1/jobs", body, kUser, {{"Idempotency-Key", "has space"}})), 400u);
  EXPECT_EQ(job_count(), 1u);
}

// Every bad submission is a 400 that names the problem, and nothing is stored.
TEST_F(JobRoutesTest, BadSubmissionsNameTheProblemAndStoreNothing) {
  const nlohmann::json good = spec();
  auto with = [&](const std::string& path, nlohmann::json value) {
    nlohmann::json s = good;
    s[nlohmann::json::json_pointer(path)] = std::move(value);
    return s.dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"task\": \"x\",", "line 1, column"},
      {"[1, 2]", "expected a JSON object"},
      {with("/unknown_field", 1), "unknown_field"},
      {with("/train/batch_size", "32"), "train.batch_size"},
      {with("/train/batch_size", 0), "train.batch_size"},
      {with("/train/learning_rate", -1), "train.learning_rate"},
      {with("/train/dropout", 1.5), "train.dropout"},
      {with("/task", "Bad/Name"), "task"},
      {with("/task", "../etc"), "task"},
      {with("/backbone", "bert-huge"), "served: other-bert, tiny-bert"},
      {with("/data/train", "/etc/passwd"), "does not read paths"},
      {with("/data/train", "file:" + std::string(64, 'e')), "unknown file id"},
      {with("/data/validation", "../../x.jsonl"), "data.validation"},
      {[&] {
         nlohmann::json s = good;
         s.erase("task");
         return s.dump();
       }(),
       "task"},
      {nlohmann::json{{"spec", good}, {"priority", 1e9}}.dump(), "priority"},
      {nlohmann::json{{"spec", good}, {"max_attempts", 0}}.dump(), "max_attempts"},
      {nlohmann::json{{"spec", good}, {"prio", 1}}.dump(), "prio"},
  };
  for (const auto& [bad, needle] : cases) {
    auto r = call(bhttp::verb::post, "/v1/jobs", bad);
    EXPECT_EQ(status(r), 400u) << bad;
    EXPECT_NE(message(r).find(needle), std::string::npos) << bad << " -> " << message(r);
  }
  EXPECT_EQ(job_count(), 0u);
  // And the API keeps serving.
  submit(good);
  EXPECT_EQ(job_count(), 1u);
}

TEST_F(JobRoutesTest, AuthRolesAndUnknownIds) {
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs", "", nullptr)), 401u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs", "", kWorker)), 403u);
  EXPECT_EQ(status(post("/v1/groups", nlohmann::json::object(), kUser)), 403u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs/j-" + std::string(32, '0'))), 404u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs/not-a-job")), 404u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs/..%2f..")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::post, "/v1/jobs/not-a-job/cancel")), 404u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs?limit=0")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs?limit=abc")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs?state=sleeping")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs?after=j-" + std::string(32, '1'))), 400u);
  const auto job = submit(spec());
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs/" + job["id"].get<std::string>() + "/events?wait=61")), 400u);
  EXPECT_EQ(status(call(bhttp::verb::get, "/v1/jobs/" + job["id"].get<std::string>() + "/events?after=-1")), 400u);
}

// The whole worker protocol: register, lease, heartbeats with metrics, complete.
TEST_F(JobRoutesTest, WorkerLeasesRunsAndCompletesAJob) {
  const std::string job_id = submit(spec())["id"];
  const std::string group = register_group();
  auto leased = post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker);
  ASSERT_EQ(status(leased), 200u) << body(leased);
  const std::string lease = json(leased)["lease_id"];
  EXPECT_EQ(json(leased)["job"]["id"], job_id);
  EXPECT_EQ(json(leased)["job"]["spec"]["data"]["train"], "file:" + train_id_);
  auto hb = post("/v1/jobs/" + job_id + "/heartbeat",
                 {{"lease_id", lease},
                  {"step", 10},
                  {"total_steps", 40},
                  {"metrics", {{"step", 10}, {"loss", 0.5}, {"samples_per_s", 100.0}}}},
                 kWorker);
  ASSERT_EQ(status(hb), 200u) << body(hb);
  EXPECT_EQ(json(hb)["action"], "continue");
  auto got = json(call(bhttp::verb::get, "/v1/jobs/" + job_id));
  EXPECT_EQ(got["state"], "running");
  EXPECT_EQ(got["progress"]["step"], 10);
  EXPECT_EQ(got["progress"]["total_steps"], 40);
  EXPECT_NEAR(got["progress"]["eta_seconds"].get<double>(), 30 * 32 / 100.0, 1e-6);  // batch 32 by default
  EXPECT_EQ(got["metrics"]["loss"], 0.5);
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/heartbeat", {{"lease_id", "l-stale"}, {"step", 11}}, kWorker)), 409u);
  // Only a version this job published completes it.
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/complete", {{"lease_id", lease}, {"artifact", "sent@1"}}, kWorker)),
            409u);
  const std::string other_jobs = publish_for("j-" + std::string(32, '0'));
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/complete", {{"lease_id", lease}, {"artifact", other_jobs}}, kWorker)),
            409u);
  EXPECT_EQ(
      status(post("/v1/jobs/" + job_id + "/complete", {{"lease_id", lease}, {"artifact", "sent@latest"}}, kWorker)),
      409u);
  const std::string artifact = publish_for(job_id);
  EXPECT_EQ(artifact, "sent@2");
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs/" + job_id))["state"], "running");  // refusals changed nothing
  auto done = post("/v1/jobs/" + job_id + "/complete", {{"lease_id", lease}, {"artifact", artifact}}, kWorker);
  ASSERT_EQ(status(done), 200u) << body(done);
  EXPECT_EQ(json(done)["state"], "succeeded");
  EXPECT_EQ(json(done)["artifact"], "sent@2");
  auto events = json(call(bhttp::verb::get, "/v1/jobs/" + job_id + "/events"));
  std::vector<std::string> kinds;
  for (const auto& e : events["events"]) kinds.push_back(e["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"state", "state", "state", "progress", "metrics", "state"}));
  EXPECT_EQ(events["state"], "succeeded");
  EXPECT_EQ(events["last_seq"], 6);
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs/" + job_id + "/events?after=4"))["events"].size(), 2u);
  EXPECT_EQ(status(call(bhttp::verb::post, "/v1/jobs/" + job_id + "/cancel")), 409u);  // finished
}

TEST_F(JobRoutesTest, GroupsOnlyLeaseTheirBackbone) {
  submit(spec("sent", "other-bert"));
  const std::string group = register_group(kSha);
  EXPECT_EQ(status(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker)), 204u);
  const std::string other = register_group(kOtherSha);
  EXPECT_EQ(status(post("/v1/groups/" + other + "/lease", nlohmann::json::object(), kWorker)), 200u);
  EXPECT_EQ(status(post("/v1/groups/g-" + std::string(32, '0') + "/lease", nlohmann::json::object(), kWorker)), 404u);
}

TEST_F(JobRoutesTest, GroupRegistrationKeepsTheSlurmJobId) {
  auto r =
      post("/v1/groups",
           {{"backbone_name", "tiny-bert"}, {"backbone_sha256", kSha}, {"world_size", 1}, {"slurm_job_id", "4242"}},
           kWorker);
  ASSERT_EQ(status(r), 201u) << body(r);
  EXPECT_EQ(store_->get_group(json(r)["group_id"].get<std::string>()).slurm_job_id, "4242");
  EXPECT_EQ(store_->get_group(register_group()).slurm_job_id, "");  // optional
  EXPECT_EQ(
      status(
          post("/v1/groups",
               {{"backbone_name", "x"}, {"backbone_sha256", kSha}, {"world_size", 1}, {"slurm_job_id", "42; rm -rf /"}},
               kWorker)),
      400u);
  EXPECT_EQ(status(post("/v1/groups",
                        {{"backbone_name", "x"}, {"backbone_sha256", kSha}, {"world_size", 1}, {"slurm_job_id", 42}},
                        kWorker)),
            400u);
}

TEST_F(JobRoutesTest, ReleasedGroupsJobIsQueuedAgainAndTheGroupMustRegisterAgain) {
  const std::string job_id = submit(spec())["id"];
  const std::string group = register_group();
  ASSERT_EQ(status(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker)), 200u);
  EXPECT_EQ(jobs_->release_group(group, JobError{"group_ended", "The Slurm job ended."}),
            std::vector<std::string>{job_id});
  auto job = json(call(bhttp::verb::get, "/v1/jobs/" + job_id));
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["attempts"], 1);
  EXPECT_EQ(job["error"]["code"], "group_ended");
  EXPECT_EQ(status(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker)), 404u);
}

TEST_F(JobRoutesTest, BadWorkerCallsAre400) {
  EXPECT_EQ(
      status(post("/v1/groups", {{"backbone_name", "x"}, {"backbone_sha256", "short"}, {"world_size", 1}}, kWorker)),
      400u);
  EXPECT_EQ(status(post("/v1/groups", {{"backbone_name", "x"}, {"backbone_sha256", kSha}, {"world_size", 0}}, kWorker)),
            400u);
  const std::string job_id = submit(spec())["id"];
  const std::string group = register_group();
  const std::string lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/heartbeat", {{"lease_id", lease}, {"step", -1}}, kWorker)), 400u);
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/heartbeat", {{"lease_id", lease}, {"metrics", 3}}, kWorker)), 400u);
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/complete", {{"lease_id", lease}, {"artifact", ""}}, kWorker)), 400u);
  EXPECT_EQ(status(post("/v1/jobs/" + job_id + "/fail", {{"lease_id", lease}, {"error", "x"}}, kWorker)), 400u);
  EXPECT_EQ(json(call(bhttp::verb::get, "/v1/jobs/" + job_id))["state"], "leased");  // untouched
}

TEST_F(JobRoutesTest, CancelQueuedAtOnceAndRunningAtTheNextHeartbeat) {
  const std::string queued = submit(spec("one"))["id"];
  auto r = call(bhttp::verb::post, "/v1/jobs/" + queued + "/cancel");
  ASSERT_EQ(status(r), 200u);
  EXPECT_EQ(json(r)["state"], "cancelled");
  const std::string running = submit(spec("two"))["id"];
  const std::string group = register_group();
  const std::string lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  r = call(bhttp::verb::post, "/v1/jobs/" + running + "/cancel");
  EXPECT_EQ(json(r)["state"], "leased");
  EXPECT_EQ(json(r)["cancel_requested"], true);
  EXPECT_EQ(json(post("/v1/jobs/" + running + "/heartbeat", {{"lease_id", lease}, {"step", 3}}, kWorker))["action"],
            "cancel");
  r = post("/v1/jobs/" + running + "/cancelled", {{"lease_id", lease}}, kWorker);
  EXPECT_EQ(json(r)["state"], "cancelled");
  EXPECT_EQ(json(r)["artifact"], nullptr);
}

TEST_F(JobRoutesTest, FailRetryableRequeuesAndExpiryRequeues) {
  const std::string job_id = submit({{"spec", spec()}, {"max_attempts", 3}})["id"];
  const std::string group = register_group();
  std::string lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  auto r = post("/v1/jobs/" + job_id + "/fail",
                {{"lease_id", lease}, {"error", {{"code", "preempted"}, {"message", "SIGTERM"}}}, {"retryable", true}},
                kWorker);
  EXPECT_EQ(json(r)["state"], "queued");
  EXPECT_EQ(json(r)["attempts"], 1);
  EXPECT_EQ(json(r)["preemptions"], 1);  // a hand-back: it does not use up an attempt
  lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  clock_.advance(std::chrono::seconds(31));
  EXPECT_EQ(jobs_->expire_leases(clock_.now()), std::vector<std::string>{job_id});
  auto got = json(call(bhttp::verb::get, "/v1/jobs/" + job_id));
  EXPECT_EQ(got["state"], "queued");
  EXPECT_EQ(got["attempts"], 2);
  EXPECT_EQ(got["error"]["code"], "lease_expired");
  lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  r = post("/v1/jobs/" + job_id + "/fail",
           {{"lease_id", lease}, {"error", {{"code", "oom"}, {"message", "out of memory"}}}, {"retryable", true}},
           kWorker);
  EXPECT_EQ(json(r)["state"], "queued");  // two failures of three
  EXPECT_EQ(json(r)["attempts"], 3);
  lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  r = post("/v1/jobs/" + job_id + "/fail",
           {{"lease_id", lease}, {"error", {{"code", "oom"}, {"message", "out of memory"}}}, {"retryable", true}},
           kWorker);
  EXPECT_EQ(json(r)["state"], "failed");  // the third failure was the last
  EXPECT_EQ(json(r)["error"]["code"], "oom");
  EXPECT_EQ(json(r)["attempts"], 4);
  EXPECT_EQ(json(r)["preemptions"], 1);
}

// Long-polls answer when something happens, well before their deadline.
TEST_F(JobRoutesTest, LeaseLongPollWakesOnSubmit) {
  const std::string group = register_group();
  auto waiting = std::async(std::launch::async, [&] {
    const auto t0 = Clock::now();
    auto r = post("/v1/groups/" + group + "/lease?wait=20", nlohmann::json::object(), kWorker);
    return std::make_pair(status(r), std::chrono::duration<double>(Clock::now() - t0).count());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  submit(spec());
  const auto [code, seconds] = waiting.get();
  EXPECT_EQ(code, 200u);
  EXPECT_LT(seconds, 5.0);
}

TEST_F(JobRoutesTest, EventsLongPollWakesOnHeartbeatAndTimesOutEmpty) {
  const std::string job_id = submit(spec())["id"];
  const std::string group = register_group();
  const std::string lease = json(post("/v1/groups/" + group + "/lease", nlohmann::json::object(), kWorker))["lease_id"];
  const int64_t last = json(call(bhttp::verb::get, "/v1/jobs/" + job_id + "/events"))["last_seq"];
  auto t0 = Clock::now();
  auto empty = json(call(bhttp::verb::get, "/v1/jobs/" + job_id + "/events?wait=0.3&after=" + std::to_string(last)));
  EXPECT_TRUE(empty["events"].empty());
  EXPECT_GE(std::chrono::duration<double>(Clock::now() - t0).count(), 0.25);
  auto waiting = std::async(std::launch::async, [&] {
    return json(call(bhttp::verb::get, "/v1/jobs/" + job_id + "/events?wait=20&after=" + std::to_string(last)));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  t0 = Clock::now();
  post("/v1/jobs/" + job_id + "/heartbeat", {{"lease_id", lease}, {"step", 1}, {"total_steps", 9}}, kWorker);
  auto got = waiting.get();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
  ASSERT_FALSE(got["events"].empty());
  EXPECT_EQ(got["events"][0]["seq"], last + 1);
}

TEST_F(JobRoutesTest, MetricsExposition) {
  submit(spec("a"));
  submit(spec("b"));
  register_group();
  auto r = call(bhttp::verb::get, "/metrics", "", kWorker);
  ASSERT_EQ(status(r), 200u);
  const std::string text = body(r);
  EXPECT_NE(text.find("trellis_jobs{state=\"queued\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("trellis_queue_depth 2\n"), std::string::npos);
  EXPECT_NE(text.find("trellis_groups 1\n"), std::string::npos);
  EXPECT_NE(text.find("trellis_leases 0\n"), std::string::npos);
  EXPECT_NE(
      text.find("trellis_http_request_duration_seconds_count{route=\"/v1/jobs\",method=\"POST\",status=\"2xx\"} 2"),
      std::string::npos)
      << text;
}

}  // namespace
}  // namespace trellis::testing
