// TrainRun's phases driven one by one: the kept-best rule on chosen metrics (non-finite ones
// included, which a real run on the tiny backbone never produces) and what finish() restores.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/support/error_text.h"
#include "tests/unit/trainer/test_support.h"
#include "trainer/model/tensor_io.h"
#include "trainer/train/train_run.h"

namespace trellis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

AdapterSpec small_adapter() {
  AdapterSpec a;
  a.bottleneck = 8;
  return a;
}

struct PhaseSetup {
  std::shared_ptr<const Backbone> bb = testing::tiny_backbone();
  TrainSpec spec;
  LabelSet labels = LabelSet::from_examples(testing::synthetic_examples(10, 1));
  EncodedDataset train, validation;
  TaskParams params = TaskParams::create(*bb, Method::houlsby, small_adapter(), 2, spec.seed);
  LocalCommunicator comm;
  std::vector<int64_t> eval_steps;
  std::vector<bool> eval_best;
  TrainCallbacks cb;
  PhaseSetup() {
    spec.epochs = 1;
    spec.batch_size = 16;
    spec.learning_rate = 1e-2;
    auto enc = [&](size_t n, uint64_t s) {
      return encode_examples(bb->tokenizer(), testing::synthetic_examples(n, s), TaskType::classification, &labels, 32,
                             "synthetic");
    };
    train = enc(150, 1);  // 10 steps
    validation = enc(40, 2);
    cb.on_eval = [this](const EvalReport& r) {
      eval_steps.push_back(r.step);
      eval_best.push_back(r.best);
    };
  }
  TrainRun run() { return TrainRun(*bb, spec, comm, params, train, validation, 2, cb, nullptr); }
};

std::map<std::string, double> metrics(double accuracy) {
  return {{"accuracy", accuracy}, {"macro_f1", accuracy / 2}, {"mcc", 0}};
}

TEST(TrainRun, KeepsTheFirstThenOnlyStrictlyBetterFiniteEvaluationsAndFinishRestoresIt) {
  PhaseSetup s;
  TrainRun run = s.run();
  std::vector<std::vector<std::byte>> offered;  // the tensors at each offer
  auto step_and_offer = [&](double accuracy) {
    EXPECT_EQ(run.step(), StepControl::proceed);
    offered.push_back(serialize_tensors(s.params.tensors()));
    return run.offer(metrics(accuracy));
  };
  EXPECT_TRUE(step_and_offer(kNaN));   // the first evaluation is kept, whatever its value
  EXPECT_TRUE(step_and_offer(0.5));    // finite beats non-finite
  EXPECT_FALSE(step_and_offer(0.4));   // worse
  EXPECT_FALSE(step_and_offer(kNaN));  // non-finite never beats finite
  EXPECT_FALSE(step_and_offer(0.5));   // a tie keeps the older
  EXPECT_TRUE(step_and_offer(0.75));   // better
  EXPECT_FALSE(step_and_offer(std::numeric_limits<double>::infinity()));  // not finite either
  EXPECT_EQ(s.eval_steps, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(s.eval_best, (std::vector<bool>{true, true, false, false, false, true, false}));

  const TrainingCheckpoint c = run.checkpoint();
  EXPECT_EQ(c.step, 7);
  EXPECT_EQ(c.best_step, 6);
  EXPECT_EQ(c.best_value, 0.75);
  EXPECT_EQ(c.best_metrics, metrics(0.75));
  ASSERT_TRUE(c.best_params);
  EXPECT_TRUE(serialize_tensors(*c.best_params) == offered[5]);
  ASSERT_TRUE(offered[5] != offered[6]);  // training moved the tensors after the kept step

  while (!run.at_end()) run.step();  // no more evaluations
  const TrainResult r = run.finish(TrainOutcome::completed);
  EXPECT_EQ(r.outcome, TrainOutcome::completed);
  EXPECT_EQ(r.steps, 10);
  EXPECT_EQ(r.best_step, 6);
  EXPECT_EQ(r.best_metrics, metrics(0.75));
  EXPECT_TRUE(serialize_tensors(s.params.tensors()) == offered[5]);  // step 6's tensors, not step 10's
  for (const auto& [name, t] : s.params.tensors()) {
    EXPECT_FALSE(t.requires_grad()) << name;
    EXPECT_FALSE(t.grad().defined()) << name;
  }
}

TEST(TrainRun, CompletedRunWithOnlyNonFiniteEvaluationsThrowsAPreemptedOneKeepsItsTensors) {
  PhaseSetup s;
  {
    TrainRun run = s.run();
    run.step();
    run.offer(metrics(kNaN));
    run.step();
    EXPECT_FALSE(run.offer(metrics(kNaN)));
    EXPECT_HAS(testing::error_of([&] { run.finish(TrainOutcome::completed); }), "training diverged");
  }
  PhaseSetup p;
  TrainRun run = p.run();
  run.step();
  run.offer(metrics(0.5));
  run.step();
  const auto current = serialize_tensors(p.params.tensors());
  const TrainResult r = run.finish(TrainOutcome::preempted);  // not restored to step 1's tensors
  EXPECT_EQ(r.outcome, TrainOutcome::preempted);
  EXPECT_EQ(r.steps, 2);
  EXPECT_EQ(r.best_step, 1);
  EXPECT_TRUE(serialize_tensors(p.params.tensors()) == current);
}

}  // namespace
}  // namespace trellis
