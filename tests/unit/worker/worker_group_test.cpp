// The group runtime in one process: jobs back to back on one resident backbone leave earlier
// tasks' predictions untouched; bad jobs fail and the group goes on; a failing collective
// at any point of a job propagates (the caller ends the group); group messages round-trip.
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/support/error_text.h"
#include "tests/unit/trainer/test_support.h"
#include "tests/unit/worker/fault_communicator.h"
#include "trainer/artifact/artifact.h"
#include "trainer/train/inference.h"
#include "worker/group/worker_group.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;

struct GroupFixture : ::testing::Test {
  fs::path dir = fs::temp_directory_path() / ("trellis-group-" + std::to_string(::getpid()));
  std::shared_ptr<const Backbone> bb = testing::tiny_backbone();
  void SetUp() override {
    fs::create_directories(dir);
    write("train.jsonl", testing::synthetic_examples(120, 1));
    write("dev.jsonl", testing::synthetic_examples(30, 2));
  }
  void TearDown() override { fs::remove_all(dir); }
  void write(const std::string& name, const std::vector<RawExample>& rows) {
    std::ofstream out(dir / name);
    for (const auto& r : rows) out << "{\"text\": \"" << r.text << "\", \"label\": \"" << r.label << "\"}\n";
  }
  GroupJob job(const std::string& task, uint64_t seed) {
    GroupJob j;
    j.id = task;
    j.spec.task = task;
    j.spec.backbone = bb->name();
    j.spec.adapter.bottleneck = 8;
    j.spec.data.train = (dir / "train.jsonl").string();
    j.spec.data.validation = (dir / "dev.jsonl").string();
    j.spec.data.max_seq_len = 32;
    j.spec.train.epochs = 2;
    j.spec.train.batch_size = 16;
    j.spec.train.learning_rate = 1e-2;
    j.spec.train.seed = seed;
    j.out = (dir / ("out-" + task)).string();
    return j;
  }
  at::Tensor predict(const fs::path& artifact) {
    LoadedArtifact a = load_artifact(artifact, *bb);
    LabelSet labels = LabelSet::from_examples(testing::synthetic_examples(10, 1));
    EncodedDataset probe = encode_examples(bb->tokenizer(), testing::synthetic_examples(50, 9),
                                           TaskType::classification, &labels, 32, "probe");
    return infer_outputs(*bb, a.params, probe);
  }
};

TEST_F(GroupFixture, JobsBackToBackLeaveEarlierTasksUntouched) {
  LocalCommunicator comm;
  WorkerGroupOptions options;
  options.log_progress = false;
  WorkerGroup group(comm, bb, options);
  std::map<std::string, at::Tensor> weights_before;
  for (const auto& [name, t] : bb->weights()) weights_before.emplace(name, t.clone());

  const JobOutcome a = group.run(job("alpha", 1));
  ASSERT_EQ(a.state, RunState::succeeded) << a.error;
  const at::Tensor alpha_before = predict(dir / "out-alpha");
  const JobOutcome b = group.run(job("beta", 2));
  ASSERT_EQ(b.state, RunState::succeeded) << b.error;
  EXPECT_TRUE(predict(dir / "out-alpha").equal(alpha_before)) << "training beta changed alpha's predictions";
  EXPECT_FALSE(predict(dir / "out-beta").equal(alpha_before));
  for (const auto& [name, t] : weights_before) EXPECT_TRUE(bb->weight(name).equal(t)) << name;
  EXPECT_GT(a.seconds_to_first_step, 0);
}

TEST_F(GroupFixture, BadJobFailsAndTheGroupGoesOn) {
  LocalCommunicator comm;
  WorkerGroupOptions options;
  options.log_progress = false;
  WorkerGroup group(comm, bb, options);
  GroupJob bad = job("bad", 1);
  bad.spec.data.train = (dir / "missing.jsonl").string();
  const JobOutcome failed = group.run(bad);
  EXPECT_EQ(failed.state, RunState::failed);
  EXPECT_HAS(failed.error, "missing.jsonl");
  GroupJob other_backbone = job("other", 1);
  other_backbone.spec.backbone = "all-MiniLM-L6-v2";
  EXPECT_HAS(group.run(other_backbone).error, "loaded backbone is 'tiny-random'");
  EXPECT_FALSE(fs::exists(dir / "out-bad"));
  EXPECT_EQ(group.run(job("good", 1)).state, RunState::succeeded);
}

TEST_F(GroupFixture, EveryCollectiveFailurePropagatesAndLeavesNoArtifact) {
  // Count the collectives of one good job, then fail each in turn.
  testing::FaultCommunicator counter(0);
  WorkerGroupOptions options;
  options.log_progress = false;
  ASSERT_EQ(WorkerGroup(counter, bb, options).run(job("count", 1)).state, RunState::succeeded);
  ASSERT_GT(counter.calls(), 0);
  for (int n = 1; n <= counter.calls(); ++n) {
    testing::FaultCommunicator comm(n);
    WorkerGroup group(comm, bb, options);
    const std::string task = "fail" + std::to_string(n);
    EXPECT_HAS(testing::error_of([&] { group.run(job(task, 1)); }), "injected") << "collective " << n;
    EXPECT_FALSE(fs::exists(dir / ("out-" + task))) << "collective " << n;
  }
}

TEST(GroupMessage, RoundTripsEveryField) {
  GroupMessage m;
  GroupJob j;
  j.id = "x";
  j.spec.task = "t";
  j.spec.method = Method::full;
  j.spec.adapter.bottleneck = 3;
  j.spec.adapter.nonlinearity = Nonlinearity::swish;
  j.spec.data.train = "/a";
  j.spec.data.validation = "/b";
  j.spec.data.text_pair_field = "p";
  j.spec.data.task_type = TaskType::regression;
  j.spec.train.seed = 1ull << 63;
  j.spec.train.learning_rate = 0.1 + 0.2;
  j.spec.train.metric = "mse";
  j.out = "/o";
  j.checkpoint_file = "/c";
  m.job = j;
  const GroupMessage r = decode_message(encode_message(m));
  ASSERT_TRUE(r.job);
  EXPECT_EQ(r.job->spec, j.spec);
  EXPECT_EQ(r.job->id, "x");
  EXPECT_EQ(r.job->out, "/o");
  EXPECT_EQ(r.job->checkpoint_file, "/c");
  EXPECT_FALSE(decode_message(encode_message(GroupMessage{})).job);
  EXPECT_HAS(testing::error_of([] { decode_message(std::string("\x00\x02", 2)); }), "malformed group message");
  EXPECT_HAS(testing::error_of([] { decode_message(encode_message(GroupMessage{}) + "x"); }), "trailing bytes");
}

}  // namespace
}  // namespace trellis
