// Training on a tiny random backbone: it learns, the backbone stays frozen, results are deterministic.
#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/unit/trainer/test_support.h"
#include "trainer/model/tensor_io.h"
#include "trainer/train/inference.h"
#include "trainer/train/trainer.h"

namespace trellis {
namespace {

struct Trained {
  TaskParams params;
  TrainResult result;
  std::map<std::string, double> test_metrics;
};

Trained train_synthetic(const std::shared_ptr<const Backbone>& bb, Method method, uint64_t seed = 42) {
  JobSpec spec;
  spec.task = "synthetic";
  spec.backbone = bb->name();
  spec.method = method;
  spec.adapter.bottleneck = 16;
  spec.train.epochs = 10;
  spec.train.batch_size = 16;
  spec.train.learning_rate = method == Method::full ? 3e-3 : 1e-2;
  spec.train.seed = seed;
  LabelSet labels = LabelSet::from_examples(testing::synthetic_examples(10, 1));
  auto enc = [&](size_t n, uint64_t s) {
    return encode_examples(bb->tokenizer(), testing::synthetic_examples(n, s), TaskType::classification, &labels, 32,
                           "synthetic");
  };
  EncodedDataset train = enc(400, 1), validation = enc(100, 2), test = enc(200, 3);
  TaskParams params = TaskParams::create(*bb, method, spec.adapter, 2, seed);
  LocalCommunicator comm;
  Trainer trainer(bb, spec, comm);
  TrainResult result = trainer.train(params, train, validation, 2);
  auto metrics = evaluate(*bb, params, test, 2);
  return Trained{std::move(params), result, metrics};
}

TEST(Trainer, HoulsbyLearnsSyntheticTaskAndKeepsBackboneFrozen) {
  auto bb = testing::tiny_backbone();
  std::map<std::string, at::Tensor> before;
  for (const auto& [name, t] : bb->weights()) before.emplace(name, t.clone());
  Trained t = train_synthetic(bb, Method::houlsby);
  EXPECT_GE(t.test_metrics.at("accuracy"), 0.95);
  EXPECT_GE(t.result.best_metrics.at("accuracy"), 0.95);
  EXPECT_EQ(t.result.steps, 10 * 25);
  for (const auto& [name, t0] : before) EXPECT_TRUE(bb->weight(name).equal(t0)) << name << " changed";
}

TEST(Trainer, SameSeedGivesBitIdenticalTensors) {
  auto bb = testing::tiny_backbone();
  Trained a = train_synthetic(bb, Method::houlsby, 11);
  Trained b = train_synthetic(bb, Method::houlsby, 11);
  Trained c = train_synthetic(bb, Method::houlsby, 12);
  EXPECT_EQ(serialize_tensors(a.params.tensors()), serialize_tensors(b.params.tensors()));
  EXPECT_NE(serialize_tensors(a.params.tensors()), serialize_tensors(c.params.tensors()));
}

TEST(Trainer, FullAndHeadMethodsTrainOnTheSameCodePath) {
  auto bb = testing::tiny_backbone();
  Trained full = train_synthetic(bb, Method::full);
  EXPECT_GE(full.test_metrics.at("accuracy"), 0.9);
  Trained head = train_synthetic(bb, Method::head);
  EXPECT_EQ(head.params.num_parameters(), 2 * bb->config().hidden_size + 2);
  EXPECT_GT(head.result.steps, 0);
}

TEST(Trainer, EvaluatesEveryNStepsAndReportsProgress) {
  auto bb = testing::tiny_backbone();
  JobSpec spec;
  spec.task = "synthetic";
  spec.backbone = bb->name();
  spec.train.epochs = 2;
  spec.train.batch_size = 16;
  spec.train.eval_every_steps = 10;
  LabelSet labels = LabelSet::from_examples(testing::synthetic_examples(10, 1));
  auto enc = [&](size_t n, uint64_t s) {
    return encode_examples(bb->tokenizer(), testing::synthetic_examples(n, s), TaskType::classification, &labels, 32,
                           "synthetic");
  };
  EncodedDataset train = enc(400, 1), validation = enc(50, 2);
  TaskParams params = TaskParams::create(*bb, Method::houlsby, spec.adapter, 2, 1);
  LocalCommunicator comm;
  std::vector<int64_t> eval_steps, step_reports;
  int64_t best_evals = 0;
  TrainCallbacks cb;
  cb.step_every = 5;
  cb.on_step = [&](const StepReport& r) {
    step_reports.push_back(r.step);
    EXPECT_EQ(r.total_steps, 50);
    EXPECT_GT(r.learning_rate, 0);
    EXPECT_TRUE(std::isfinite(r.loss));
  };
  cb.on_eval = [&](const EvalReport& r) {
    eval_steps.push_back(r.step);
    best_evals += r.best;
    EXPECT_EQ(r.metrics.size(), 3u);
  };
  TrainResult result = Trainer(bb, spec, comm).train(params, train, validation, 2, cb);
  EXPECT_EQ(eval_steps, (std::vector<int64_t>{10, 20, 30, 40, 50}));
  EXPECT_EQ(step_reports.size(), 10u);
  EXPECT_GE(best_evals, 1);
  EXPECT_EQ(result.steps, 50);
  // The kept parameters are the best evaluation's: re-evaluating them gives its metrics.
  EXPECT_EQ(evaluate(*bb, params, validation, 2), result.best_metrics);
}

}  // namespace
}  // namespace trellis
