// Checkpoints: the file round trip, and resuming a run in-process gives the uninterrupted run's
// tensors bit for bit (dropout on), including when the stop falls mid-epoch and before any eval.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/support/error_text.h"
#include "tests/unit/trainer/test_support.h"
#include "common/files.h"
#include "trainer/model/tensor_io.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/trainer.h"

namespace trellis {
namespace {

struct RunSetup {
  std::shared_ptr<const Backbone> bb = testing::tiny_backbone();
  JobSpec spec;
  LabelSet labels = LabelSet::from_examples(testing::synthetic_examples(10, 1));
  EncodedDataset train, validation;
  RunSetup() {
    spec.task = "synthetic";
    spec.backbone = bb->name();
    spec.adapter.bottleneck = 8;
    spec.train.epochs = 3;
    spec.train.batch_size = 16;
    spec.train.learning_rate = 1e-2;
    spec.train.dropout = 0.1;
    spec.train.eval_every_steps = 7;
    auto enc = [&](size_t n, uint64_t s) {
      return encode_examples(bb->tokenizer(), testing::synthetic_examples(n, s), TaskType::classification, &labels, 32,
                             "synthetic");
    };
    train = enc(150, 1);  // 10 steps per epoch, the last batch of 6
    validation = enc(40, 2);
  }
  TaskParams fresh() const { return TaskParams::create(*bb, spec.method, spec.adapter, 2, spec.train.seed); }
};

TEST(Checkpoint, FileRoundTripKeepsEveryField) {
  TrainingCheckpoint c;
  c.step = 12;
  c.total_steps = 30;
  c.world_size = 2;
  c.fingerprint = "abc";
  c.params = {{"a.weight", torch::randn({3, 4})}};
  c.exp_avg = {{"a.weight", torch::randn({3, 4})}};
  c.exp_avg_sq = {{"a.weight", torch::rand({3, 4})}};
  c.best_params = std::map<std::string, at::Tensor>{{"a.weight", torch::randn({3, 4})}};
  c.best_metrics = {{"accuracy", 0.1 + 0.2}, {"mcc", std::nan("")}};
  c.best_value = 0.30000000000000004;
  c.best_step = 10;
  c.samples = 384;
  c.train_seconds = 1.25;
  const auto dir = std::filesystem::temp_directory_path() / ("trellis-ckpt-" + std::to_string(::getpid()));
  save_checkpoint(dir / "c.safetensors", c);
  save_checkpoint(dir / "c.safetensors", c);  // replaces atomically
  TrainingCheckpoint r = load_checkpoint(dir / "c.safetensors");
  EXPECT_EQ(r.step, 12);
  EXPECT_EQ(r.total_steps, 30);
  EXPECT_EQ(r.world_size, 2);
  EXPECT_EQ(r.fingerprint, "abc");
  EXPECT_TRUE(r.params.at("a.weight").equal(c.params.at("a.weight")));
  EXPECT_TRUE(r.exp_avg.at("a.weight").equal(c.exp_avg.at("a.weight")));
  EXPECT_TRUE(r.exp_avg_sq.at("a.weight").equal(c.exp_avg_sq.at("a.weight")));
  ASSERT_TRUE(r.best_params);
  EXPECT_TRUE(r.best_params->at("a.weight").equal(c.best_params->at("a.weight")));
  EXPECT_EQ(r.best_metrics.at("accuracy"), 0.1 + 0.2);
  EXPECT_TRUE(std::isnan(r.best_metrics.at("mcc")));
  EXPECT_EQ(r.best_value, c.best_value);
  EXPECT_EQ(r.samples, 384);
  EXPECT_EQ(r.train_seconds, 1.25);
  EXPECT_FALSE(std::filesystem::exists(dir / "c.safetensors.tmp"));
  // Not a checkpoint: a plain safetensors file.
  write_file_durably(dir / "plain.safetensors", serialize_tensors({{"x", torch::zeros({2})}}));
  EXPECT_HAS(testing::error_of([&] { load_checkpoint(dir / "plain.safetensors"); }), "not a Trellis checkpoint");
  std::filesystem::remove_all(dir);
}

TEST(Checkpoint, ResumeIsBitExactWithTheUninterruptedRun) {
  RunSetup s;
  LocalCommunicator comm;
  TaskParams full = s.fresh();
  const TrainResult uninterrupted = Trainer(s.bb, s.spec, comm).train(full, s.train, s.validation, 2);
  ASSERT_EQ(uninterrupted.steps, 30);

  for (int64_t stop : {3, 7, 10, 29}) {  // before any eval, at an eval, at an epoch end, at the end
    std::optional<TrainingCheckpoint> saved;
    TrainCallbacks cb;
    cb.control = [stop](int64_t step) { return step == stop ? StepControl::preempt : StepControl::proceed; };
    cb.on_checkpoint = [&](const TrainingCheckpoint& c) { saved = c; };
    TaskParams first = s.fresh();
    const TrainResult interrupted = Trainer(s.bb, s.spec, comm).train(first, s.train, s.validation, 2, cb);
    EXPECT_EQ(interrupted.outcome, TrainOutcome::preempted);
    EXPECT_EQ(interrupted.steps, stop);
    ASSERT_TRUE(saved) << stop;
    EXPECT_EQ(saved->step, stop);
    // Through the file, as a worker would.
    const auto file = std::filesystem::temp_directory_path() / ("trellis-resume-" + std::to_string(::getpid()));
    save_checkpoint(file, *saved);
    const TrainingCheckpoint loaded = load_checkpoint(file);
    std::filesystem::remove(file);
    TaskParams resumed = s.fresh();
    const TrainResult rest = Trainer(s.bb, s.spec, comm).train(resumed, s.train, s.validation, 2, {}, &loaded);
    EXPECT_EQ(rest.outcome, TrainOutcome::completed);
    EXPECT_EQ(rest.steps, 30);
    EXPECT_EQ(rest.best_step, uninterrupted.best_step) << stop;
    EXPECT_EQ(rest.best_metrics, uninterrupted.best_metrics) << stop;
    for (const auto& [name, t] : full.tensors())
      EXPECT_TRUE(resumed.tensors().at(name).equal(t)) << name << " stop " << stop;
  }
}

TEST(Checkpoint, CancelStopsWithoutCheckpointAndResumeChecksTheRun) {
  RunSetup s;
  LocalCommunicator comm;
  int checkpoints = 0;
  TrainCallbacks cb;
  cb.control = [](int64_t step) { return step == 4 ? StepControl::cancel : StepControl::proceed; };
  cb.on_checkpoint = [&](const TrainingCheckpoint&) { ++checkpoints; };
  cb.checkpoint_every = 2;
  TaskParams p = s.fresh();
  const TrainResult r = Trainer(s.bb, s.spec, comm).train(p, s.train, s.validation, 2, cb);
  EXPECT_EQ(r.outcome, TrainOutcome::cancelled);
  EXPECT_EQ(r.steps, 4);
  EXPECT_EQ(checkpoints, 1);  // after step 2 only
  // A checkpoint of a run with another length is refused.
  TrainingCheckpoint other;
  other.total_steps = 99;
  other.params = p.snapshot();
  TaskParams q = s.fresh();
  EXPECT_HAS(testing::error_of([&] { Trainer(s.bb, s.spec, comm).train(q, s.train, s.validation, 2, {}, &other); }),
             "99 steps");
}

}  // namespace
}  // namespace trellis
