// Concurrent publishers (threads and real processes) and a publisher killed with SIGKILL between
// writing its version and renaming it into place.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "registry/artifact_registry.h"
#include "tests/unit/registry/registry_test_support.h"
#include "common/files.h"
#include "common/sha256.h"

namespace trellis {
namespace {

using testing::registry_error;
using testing::tensor_bytes;
using testing::test_manifest;
namespace fs = std::filesystem;

class ConcurrencyTest : public testing::RegistryTest {
 protected:
  // Every version 1..n exists exactly once, is ok, verifies, and the job ids are exactly `jobs`.
  void expect_versions_exactly(ArtifactRegistry& reg, const std::string& task, const std::set<std::string>& jobs) {
    const auto versions = reg.list_versions(task);
    ASSERT_EQ(versions.size(), jobs.size());
    std::set<std::string> seen;
    for (size_t i = 0; i < versions.size(); ++i) {
      EXPECT_EQ(versions[i].version, static_cast<int64_t>(i + 1));
      EXPECT_EQ(versions[i].state, VersionState::ok) << versions[i].problem;
      ASSERT_TRUE(versions[i].job_id);
      EXPECT_TRUE(seen.insert(*versions[i].job_id).second) << "job published twice: " << *versions[i].job_id;
      EXPECT_TRUE(reg.verify(task, versions[i].version).ok);
      EXPECT_EQ(read_manifest(root() / task / std::to_string(i + 1)).version, static_cast<int64_t>(i + 1));
    }
    EXPECT_EQ(seen, jobs);
    EXPECT_TRUE(names(root() / task / ".staging").empty());
  }
};

// 4 processes publish 20 versions of one task at once: 1..20, each exactly once, every manifest valid.
TEST_F(ConcurrencyTest, FourProcessesPublishTwentyVersions) {
  { ArtifactRegistry create(options()); }
  constexpr int kProcesses = 4, kEach = 5;
  int start[2];
  ASSERT_EQ(::pipe(start), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Child: wait for the start signal, publish, check what it got; exit code 0 if all went well.
      ::close(start[1]);
      char c;
      (void)!::read(start[0], &c, 1);  // returns 0 when the parent closes its end
      int code = 0;
      try {
        RegistryOptions o = options();
        o.create = false;
        ArtifactRegistry reg(o);
        std::set<int64_t> mine;
        for (int k = 0; k < kEach; ++k) {
          const std::string job = "p" + std::to_string(p) + "-" + std::to_string(k);
          const auto v = reg.publish("sst2", test_manifest("sst2"), tensor_bytes(p * 100 + k), {job, 1});
          if (!mine.insert(v.version).second) code = 3;
          if (read_manifest(v.dir).job_id != job) code = 4;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child %d: %s\n", p, e.what());
        code = 2;
      }
      ::_exit(code);
    }
    children.push_back(pid);
  }
  ::close(start[0]);
  ::close(start[1]);  // go
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  ArtifactRegistry reg(options());
  std::set<std::string> jobs;
  for (int p = 0; p < kProcesses; ++p)
    for (int k = 0; k < kEach; ++k) jobs.insert("p" + std::to_string(p) + "-" + std::to_string(k));
  expect_versions_exactly(reg, "sst2", jobs);
}

TEST_F(ConcurrencyTest, EightThreadsPublishFortyVersions) {
  ArtifactRegistry reg(options());
  constexpr int kThreads = 8, kEach = 5;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> got(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < kEach; ++k)
        got[t].push_back(reg.publish("sst2", test_manifest("sst2"), tensor_bytes(t * 100 + k),
                                     {"t" + std::to_string(t) + "-" + std::to_string(k), std::nullopt})
                             .version);
    });
  for (auto& th : threads) th.join();
  std::set<int64_t> all;
  std::set<std::string> jobs;
  for (int t = 0; t < kThreads; ++t)
    for (int k = 0; k < kEach; ++k) {
      EXPECT_TRUE(all.insert(got[t][k]).second);
      jobs.insert("t" + std::to_string(t) + "-" + std::to_string(k));
    }
  expect_versions_exactly(reg, "sst2", jobs);
}

// A real process killed (SIGKILL) after its staging directory is complete and fsynced, just before
// the rename: no visible version, the next publish succeeds, the sweep removes the leftovers.
TEST_F(ConcurrencyTest, APublishKilledBeforeItsRenameLeavesNoVersion) {
  ArtifactRegistry reg(options());
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1), {"before", std::nullopt});
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    RegistryOptions o = options();
    o.before_rename = [](const fs::path&, int64_t) { ::kill(::getpid(), SIGKILL); };
    try {
      ArtifactRegistry killed(o);
      killed.publish("sst2", test_manifest("sst2"), tensor_bytes(2), {"killed", std::nullopt});
    } catch (...) {
    }
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

  // The staged version is complete on disk but invisible.
  const auto staged = names(root() / "sst2" / ".staging");
  ASSERT_EQ(staged.size(), 1u);
  const fs::path leftover = root() / "sst2" / ".staging" / staged[0];
  EXPECT_EQ(read_manifest(leftover).version, 2);
  EXPECT_EQ(reg.list_versions("sst2").size(), 1u);
  EXPECT_EQ(reg.resolve("sst2@latest").version, 1);
  registry_error([&] { reg.resolve("sst2@2"); }, ErrorCode::not_found);

  // The next publish takes the number the killed one was about to claim.
  const auto next = reg.publish("sst2", test_manifest("sst2"), tensor_bytes(3), {"after", std::nullopt});
  EXPECT_EQ(next.version, 2);
  EXPECT_EQ(next.manifest.job_id, "after");

  // Start-up sweep: a recent leftover is kept (it could be a live publish), a stale one removed.
  EXPECT_TRUE(reg.sweep_staging(std::chrono::hours(1)).removed.empty());
  RegistryOptions later = options();
  later.clock = [] { return std::chrono::system_clock::now() + std::chrono::hours(2); };
  ArtifactRegistry restarted(later);
  const SweepReport report = restarted.sweep_staging(std::chrono::hours(1));
  EXPECT_EQ(report.removed, std::vector<fs::path>{leftover});
  EXPECT_TRUE(report.failures.empty());
  EXPECT_TRUE(names(root() / "sst2" / ".staging").empty());
  EXPECT_EQ(names(root() / "sst2"), (std::vector<std::string>{".staging", "1", "2"}));
  EXPECT_TRUE(restarted.verify("sst2", 1).ok);
  EXPECT_TRUE(restarted.verify("sst2", 2).ok);
}

TEST_F(ConcurrencyTest, SweepRemovesStaleAliasTemporariesOnly) {
  ArtifactRegistry reg(options());
  reg.publish("sst2", test_manifest("sst2"), tensor_bytes(1));
  reg.set_alias("sst2", "prod", 1);
  fs::create_symlink("../1", root() / "sst2" / "aliases" / ".tmp-crashed");
  RegistryOptions later = options();
  later.clock = [] { return std::chrono::system_clock::now() + std::chrono::hours(2); };
  const SweepReport report = ArtifactRegistry(later).sweep_staging(std::chrono::hours(1));
  EXPECT_EQ(report.removed, std::vector<fs::path>{root() / "sst2" / "aliases" / ".tmp-crashed"});
  EXPECT_EQ(names(root() / "sst2" / "aliases"), std::vector<std::string>{"prod"});
  EXPECT_EQ(reg.resolve("sst2@prod").version, 1);
}

}  // namespace
}  // namespace trellis
