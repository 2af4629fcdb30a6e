#include "trainer/train/trainer.h"

#include <algorithm>
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
#include "common/error.h"

namespace trellis {
namespace {

bool better(const std::string& metric, double candidate, double best) {
  return metric_higher_is_better(metric) ? candidate > best : candidate < best;
}

// Slots after the gradients in the step's flat buffer: summed over ranks with them.
enum MetaSlot : int64_t { kLossSum = 0, kCheckpointRequests, kPreemptRequests, kCancelRequests, kMetaSlots };

// Every trainable tensor's gradient is a view into one flat float buffer (in parameter order),
// followed by the meta slots. Autograd accumulates into the views in place.
struct FlatGradients {
  at::Tensor buffer;  // [P + kMetaSlots]
  at::Tensor grads;   // [P], a view of buffer
  int64_t count = 0;
};

FlatGradients attach_flat_gradients(std::vector<at::Tensor>& params) {
  FlatGradients f;
  for (const auto& p : params) f.count += p.numel();
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(params.empty() ? at::kCPU : params[0].device());
  f.buffer = at::zeros({f.count + kMetaSlots}, opts);
  f.grads = f.buffer.narrow(0, 0, f.count);
  int64_t offset = 0;
  for (auto& p : params) {
    if (p.scalar_type() != at::kFloat) throw Error("trainable tensors must be float32");
    p.mutable_grad() = f.buffer.narrow(0, offset, p.numel()).view(p.sizes()).detach();
    offset += p.numel();
  }
  return f;
}

// One rank's initial tensors for all: rank 0's values, broadcast as one buffer.
void broadcast_from_rank0(std::vector<at::Tensor>& params, Communicator& comm) {
  if (comm.size() == 1 || params.empty()) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> flat;
  for (const auto& p : params) flat.push_back(p.detach().reshape({-1}));
  at::Tensor buffer = at::cat(flat);
  comm.broadcast(buffer, 0);
  int64_t offset = 0;
  for (auto& p : params) {
    p.detach().copy_(buffer.narrow(0, offset, p.numel()).view(p.sizes()));
    offset += p.numel();
  }
}

using AdamWState = torch::optim::AdamWParamState;

void restore_optimizer(torch::optim::AdamW& optimizer, const TaskParams& params, const TrainingCheckpoint& c) {
  for (const auto& [name, t] : params.tensors()) {
    auto m = c.exp_avg.find(name), v = c.exp_avg_sq.find(name);
    if (m == c.exp_avg.end() || v == c.exp_avg_sq.end())
      throw Error("checkpoint lacks the optimizer state of '" + name + "'");
    if (!m->second.sizes().equals(t.sizes()) || !v->second.sizes().equals(t.sizes()))
      throw Error("checkpoint optimizer state of '" + name + "' has the wrong shape");
    auto state = std::make_unique<AdamWState>();
    state->step(c.step);
    state->exp_avg(m->second.to(t.device()).clone());
    state->exp_avg_sq(v->second.to(t.device()).clone());
    optimizer.state()[t.unsafeGetTensorImpl()] = std::move(state);
  }
}

void save_optimizer(torch::optim::AdamW& optimizer, const TaskParams& params, TrainingCheckpoint& c) {
  for (const auto& [name, t] : params.tensors()) {
    auto it = optimizer.state().find(t.unsafeGetTensorImpl());
    if (it == optimizer.state().end()) continue;  // no step yet
    const auto& s = static_cast<const AdamWState&>(*it->second);
    c.exp_avg.emplace(name, s.exp_avg().detach().clone());
    c.exp_avg_sq.emplace(name, s.exp_avg_sq().detach().clone());
  }
}

}  // namespace

Trainer::Trainer(std::shared_ptr<const Backbone> backbone, JobSpec spec, Communicator& comm)
    : backbone_(std::move(backbone)), spec_(std::move(spec)), comm_(comm) {}

int64_t Trainer::total_steps(const TrainSpec& ts, size_t train_examples) {
  const auto bs = static_cast<size_t>(ts.batch_size);
  return static_cast<int64_t>((train_examples + bs - 1) / bs) * ts.epochs;
}

TrainResult Trainer::train(TaskParams& params, const EncodedDataset& train, const EncodedDataset& validation,
                           size_t num_classes, const TrainCallbacks& cb, const TrainingCheckpoint* resume) {
  const TrainSpec& ts = spec_.train;
  if (train.size() == 0) throw Error("the training set is empty");
  if (validation.size() == 0) throw Error("the validation set is empty");
  const std::string metric = ts.metric.empty() ? default_metric(train.task_type) : ts.metric;
  const bool regression = train.task_type == TaskType::regression;
  const int world = comm_.size(), rank = comm_.rank();
  // Dropout randomness: its own stream per rank (the ranks' shards get independent masks),
  // reseeded at every step from (seed, rank, step), so a resumed run draws the same masks.
  const uint64_t rank_seed = derive_seed(ts.seed, static_cast<uint64_t>(rank));

  const std::vector<size_t> lengths = train.lengths();
  BatchPlanOptions plan_opts;
  plan_opts.batch_size = static_cast<size_t>(ts.batch_size);
  const int64_t batches_per_epoch = total_steps(TrainSpec{.epochs = 1, .batch_size = ts.batch_size}, train.size());
  const int64_t total = batches_per_epoch * ts.epochs;
  const LinearSchedule schedule = LinearSchedule::from_ratio(ts.learning_rate, ts.warmup_ratio, total);
  const ForwardOptions fwd{true, ts.dropout, ts.dropout};

  TrainResult result;
  std::optional<std::map<std::string, at::Tensor>> best_state;
  double best_value = 0;
  int64_t step = 0, samples = 0;
  double seconds = 0;

  if (resume) {
    if (resume->total_steps != total)
      throw Error("the checkpoint is for a run of " + std::to_string(resume->total_steps) + " steps, this one has " +
                  std::to_string(total));
    for (const auto& [name, t] : params.tensors()) {
      auto it = resume->params.find(name);
      if (it == resume->params.end() || !it->second.sizes().equals(t.sizes()) || it->second.scalar_type() != t.scalar_type())
        throw Error("the checkpoint's tensor '" + name + "' is missing or has another shape or dtype");
    }
    if (resume->params.size() != params.tensors().size())
      throw Error("the checkpoint holds tensors this task does not have");
    params.restore(resume->params);
    step = resume->step;
    samples = resume->samples;
    seconds = resume->train_seconds;
    best_state = resume->best_params;
    best_value = resume->best_value;
    result.best_metrics = resume->best_metrics;
    result.best_step = resume->best_step;
  }
  std::vector<at::Tensor> all = params.parameters();
  broadcast_from_rank0(all, comm_);
  params.set_requires_grad(true);
  auto optimizer_ptr = make_adamw(params, ts.learning_rate, ts.weight_decay);
  torch::optim::AdamW& optimizer = *optimizer_ptr;
  if (resume && resume->step > 0) restore_optimizer(optimizer, params, *resume);
  FlatGradients flat = attach_flat_gradients(all);
  const at::TensorOptions device_opts = at::TensorOptions().device(flat.buffer.device());

  auto run_eval = [&](int64_t epoch) {
    params.set_requires_grad(false);
    EvalReport report{step, epoch, evaluate(*backbone_, params, validation, num_classes, 64, &comm_), false};
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
  auto checkpoint = [&] {
    if (rank != 0 || !cb.on_checkpoint) return;
    TrainingCheckpoint c;
    c.step = step;
    c.total_steps = total;
    c.world_size = world;
    c.params = params.snapshot();
    save_optimizer(optimizer, params, c);
    c.best_params = best_state;
    c.best_metrics = result.best_metrics;
    c.best_value = best_value;
    c.best_step = result.best_step;
    c.samples = samples;
    c.train_seconds = seconds;
    cb.on_checkpoint(c);
  };

  std::vector<std::vector<size_t>> plan;
  int64_t plan_epoch = -1;
  while (step < total) {
    const int64_t epoch = step / batches_per_epoch, batch = step % batches_per_epoch;
    if (epoch != plan_epoch) {
      plan = plan_batches(lengths, plan_opts, ts.seed, static_cast<uint64_t>(epoch));
      plan_epoch = epoch;
    }
    const std::vector<size_t>& global = plan[static_cast<size_t>(batch)];
    const auto t0 = std::chrono::steady_clock::now();
    torch::manual_seed(derive_seed(rank_seed, static_cast<uint64_t>(step)));
    for (auto& g : optimizer.param_groups())
      static_cast<torch::optim::AdamWOptions&>(g.options()).lr(schedule.at(step));
    flat.buffer.zero_();
    // This rank's strided shard of the global batch (batches are sorted by length, so striding
    // balances the ranks' work; uneven tails leave some shards smaller, possibly empty: the
    // collective below still runs on every rank).
    const size_t n = global.size();
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
      at::Tensor out = task_outputs(*backbone_, params, make_token_batch(encs).to(params.device()), fwd);
      at::Tensor loss_sum =
          regression ? at::mse_loss(out.select(1, 0), torch::tensor(targets).to(out.device()), at::Reduction::Sum)
                     : at::cross_entropy_loss(out, torch::tensor(labels, torch::kLong).to(out.device()), {},
                                              at::Reduction::Sum);
      (loss_sum / static_cast<double>(n)).backward();
      local_loss_sum = loss_sum.item<double>();
    }
    const StepControl request = cb.control ? cb.control(step + 1) : StepControl::proceed;
    StepControl control = request;
    if (world > 1) {
      // Loss and requests ride in the gradient buffer: one collective per step.
      at::Tensor meta = at::zeros({kMetaSlots}, at::TensorOptions().dtype(at::kFloat));
      auto* m = meta.data_ptr<float>();
      m[kLossSum] = static_cast<float>(local_loss_sum);
      m[kCheckpointRequests] = request == StepControl::checkpoint;
      m[kPreemptRequests] = request == StepControl::preempt;
      m[kCancelRequests] = request == StepControl::cancel;
      flat.buffer.narrow(0, flat.count, kMetaSlots).copy_(meta.to(device_opts.device()));
      const auto c0 = std::chrono::steady_clock::now();
      comm_.allreduce_sum(flat.buffer);
      result.allreduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
      meta = flat.buffer.narrow(0, flat.count, kMetaSlots).to(at::kCPU);
      m = meta.data_ptr<float>();
      local_loss_sum = m[kLossSum];
      control = m[kCancelRequests] > 0    ? StepControl::cancel
                : m[kPreemptRequests] > 0 ? StepControl::preempt
                : m[kCheckpointRequests] > 0 ? StepControl::checkpoint
                                             : StepControl::proceed;
    }
    if (ts.max_grad_norm > 0) {
      // As torch.nn.utils.clip_grad_norm_, over the flat buffer in one pass.
      const at::Tensor norm = flat.grads.norm(2);
      flat.grads.mul_(at::clamp_max(ts.max_grad_norm / (norm + 1e-6), 1.0));
    }
    optimizer.step();
    ++step;
    samples += static_cast<int64_t>(n);
    const double step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds += step_seconds;
    if (cb.on_step && (step % std::max<int64_t>(1, cb.step_every) == 0 || step == total))
      cb.on_step(StepReport{step, total, epoch, local_loss_sum / static_cast<double>(n), schedule.at(step - 1),
                            seconds > 0 ? samples / seconds : 0, step_seconds});
    if (control == StepControl::cancel) {
      result.outcome = TrainOutcome::cancelled;
      break;
    }
    const bool epoch_end = step % batches_per_epoch == 0;
    if (ts.eval_every_steps > 0 ? (step % ts.eval_every_steps == 0 || step == total) : epoch_end) run_eval(epoch);
    if (step == total) break;
    if ((cb.checkpoint_every > 0 && step % cb.checkpoint_every == 0) || control != StepControl::proceed) checkpoint();
    if (control == StepControl::preempt) {
      result.outcome = TrainOutcome::preempted;
      break;
    }
  }
  result.steps = step;
  if (world > 1) {
    result.gradient_bytes_per_step = flat.grads.nbytes();
    result.metadata_bytes_per_step = flat.buffer.nbytes() - flat.grads.nbytes();
  }
  result.train_seconds = seconds;
  result.samples_per_s = seconds > 0 ? samples / seconds : 0;
  for (auto& t : all) t.mutable_grad() = at::Tensor();
  params.set_requires_grad(false);
  if (result.outcome != TrainOutcome::completed) return result;
  for (const auto& [name, value] : result.best_metrics)
    if (!std::isfinite(value))
      throw Error("training diverged: validation metric '" + name + "' is not finite at every evaluation");
  params.restore(*best_state);
  return result;
}

}  // namespace trellis
