#include "trainer/train/trainer.h"

#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "trainer/data/batching.h"
#include "trainer/data/rng.h"
#include "trainer/model/backbone.h"
#include "trainer/model/encoder.h"
#include "trainer/train/inference.h"
#include "trainer/train/lr_schedule.h"
#include "trainer/train/optimizer.h"
#include "trainer/util/error.h"

namespace trellis {
namespace {

bool better(const std::string& metric, double candidate, double best) {
  return metric_higher_is_better(metric) ? candidate > best : candidate < best;
}

}  // namespace

Trainer::Trainer(std::shared_ptr<const Backbone> backbone, JobSpec spec, Communicator& comm)
    : backbone_(std::move(backbone)), spec_(std::move(spec)), comm_(comm) {}

TrainResult Trainer::train(TaskParams& params, const EncodedDataset& train, const EncodedDataset& validation,
                           size_t num_classes, const TrainCallbacks& cb) {
  const TrainSpec& ts = spec_.train;
  if (train.size() == 0) throw Error("the training set is empty");
  if (validation.size() == 0) throw Error("the validation set is empty");
  const std::string metric = ts.metric.empty() ? default_metric(train.task_type) : ts.metric;
  const bool regression = train.task_type == TaskType::regression;
  // Dropout randomness: its own stream per rank, so that the ranks' shards get independent masks.
  torch::manual_seed(derive_seed(ts.seed, static_cast<uint64_t>(comm_.rank())));

  params.set_requires_grad(true);
  std::vector<at::Tensor> all = params.parameters();
  auto optimizer_ptr = make_adamw(params, ts.learning_rate, ts.weight_decay);
  torch::optim::AdamW& optimizer = *optimizer_ptr;

  const std::vector<size_t> lengths = train.lengths();
  BatchPlanOptions plan_opts;
  plan_opts.batch_size = static_cast<size_t>(ts.batch_size);
  const int64_t batches_per_epoch = static_cast<int64_t>((train.size() + plan_opts.batch_size - 1) / plan_opts.batch_size);
  const int64_t total_steps = batches_per_epoch * ts.epochs;
  const LinearSchedule schedule = LinearSchedule::from_ratio(ts.learning_rate, ts.warmup_ratio, total_steps);
  const ForwardOptions fwd{true, ts.dropout, ts.dropout};

  TrainResult result;
  std::optional<std::map<std::string, at::Tensor>> best_state;
  double best_value = 0;
  int64_t step = 0, samples = 0;
  double seconds = 0;
  const int world = comm_.size(), rank = comm_.rank();

  auto run_eval = [&](int64_t epoch) {
    params.set_requires_grad(false);
    EvalReport report{step, epoch, evaluate(*backbone_, params, validation, num_classes), false};
    params.set_requires_grad(true);
    const double value = report.metrics.at(metric);
    // A non-finite value (a diverged model) never beats a finite one.
    const bool take = !best_state || (std::isfinite(value) && (!std::isfinite(best_value) || better(metric, value, best_value)));
    if (take) {
      best_state = params.snapshot();
      best_value = value;
      result.best_metrics = report.metrics;
      result.best_step = step;
      report.best = true;
    }
    if (cb.on_eval) cb.on_eval(report);
  };

  for (int64_t epoch = 0; epoch < ts.epochs; ++epoch) {
    const auto plan = plan_batches(lengths, plan_opts, ts.seed, static_cast<uint64_t>(epoch));
    for (const auto& global : plan) {
      const auto t0 = std::chrono::steady_clock::now();
      // This rank's strided shard of the global batch (batches are sorted by length, so striding
      // balances the ranks' work; uneven tails leave some shards smaller, possibly empty: the
      // collective below still runs on every rank).
      const size_t n = global.size();
      for (auto& g : optimizer.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(schedule.at(step));
      optimizer.zero_grad(false);
      double local_loss_sum = 0;
      std::vector<size_t> shard;
      for (size_t k = static_cast<size_t>(rank); k < n; k += static_cast<size_t>(world)) shard.push_back(k);
      if (!shard.empty()) {
        std::vector<const Encoding*> encs;
        std::vector<int64_t> labels;
        std::vector<float> targets;
        for (size_t k : shard) {
          encs.push_back(&train.encodings[global[k]]);
          labels.push_back(train.labels[global[k]]);
          targets.push_back(static_cast<float>(train.targets[global[k]]));
        }
        at::Tensor out = task_outputs(*backbone_, params, make_token_batch(encs), fwd);
        at::Tensor loss_sum =
            regression ? at::mse_loss(out.select(1, 0), torch::tensor(targets), at::Reduction::Sum)
                       : at::cross_entropy_loss(out, torch::tensor(labels, torch::kLong), {}, at::Reduction::Sum);
        (loss_sum / static_cast<double>(n)).backward();
        local_loss_sum = loss_sum.item<double>();
      }
      for (auto& t : all)
        if (!t.grad().defined()) t.mutable_grad() = at::zeros_like(t);
      if (world > 1) {
        std::vector<at::Tensor> grads;
        for (auto& t : all) grads.push_back(t.mutable_grad());
        grads.push_back(torch::tensor({local_loss_sum}, torch::kDouble));
        comm_.allreduce_sum(grads);
        local_loss_sum = grads.back().item<double>();
      }
      if (ts.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(all, ts.max_grad_norm);
      optimizer.step();
      ++step;
      samples += static_cast<int64_t>(n);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (cb.on_step && (step % std::max<int64_t>(1, cb.step_every) == 0 || step == total_steps))
        cb.on_step(StepReport{step, total_steps, epoch, local_loss_sum / static_cast<double>(n),
                              schedule.at(step - 1), seconds > 0 ? samples / seconds : 0});
      if (ts.eval_every_steps > 0 && step % ts.eval_every_steps == 0 && step != total_steps) run_eval(epoch);
    }
    if (ts.eval_every_steps == 0 || epoch == ts.epochs - 1) run_eval(epoch);
  }
  for (const auto& [name, value] : result.best_metrics)
    if (!std::isfinite(value))
      throw Error("training diverged: validation metric '" + name + "' is not finite at every evaluation");
  params.restore(*best_state);
  params.set_requires_grad(false);
  result.steps = step;
  result.train_seconds = seconds;
  result.samples_per_s = seconds > 0 ? samples / seconds : 0;
  return result;
}

}  // namespace trellis
