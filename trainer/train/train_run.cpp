#include "trainer/train/train_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <torch/torch.h>

#include "trainer/data/rng.h"
#include "trainer/model/backbone.h"
#include "trainer/train/inference.h"
#include "trainer/train/optimizer.h"
#include "common/error.h"

namespace trellis {
namespace {

bool better(const std::string& metric, double candidate, double best) {
  return metric_higher_is_better(metric) ? candidate > best : candidate < best;
}

// Slots after the gradients in the step's flat buffer: summed over ranks with them.
enum MetaSlot : int64_t { kLossSum = 0, kCheckpointRequests, kPreemptRequests, kCancelRequests, kMetaSlots };

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

void save_optimizer(const torch::optim::AdamW& optimizer, const TaskParams& params, TrainingCheckpoint& c) {
  for (const auto& [name, t] : params.tensors()) {
    auto it = optimizer.state().find(t.unsafeGetTensorImpl());
    if (it == optimizer.state().end()) continue;  // no step yet
    const auto& s = static_cast<const AdamWState&>(*it->second);
    c.exp_avg.emplace(name, s.exp_avg().detach().clone());
    c.exp_avg_sq.emplace(name, s.exp_avg_sq().detach().clone());
  }
}

}  // namespace

TrainRun::TrainRun(const Backbone& backbone, const TrainSpec& spec, Communicator& comm, TaskParams& params,
                   const EncodedDataset& train, const EncodedDataset& validation, size_t num_classes,
                   const TrainCallbacks& callbacks, const TrainingCheckpoint* resume)
    : backbone_(backbone),
      spec_(spec),
      comm_(comm),
      params_(params),
      train_(train),
      validation_(validation),
      num_classes_(num_classes),
      cb_(callbacks) {
  const TrainSpec& ts = spec_;
  if (train.size() == 0) throw Error("the training set is empty");
  if (validation.size() == 0) throw Error("the validation set is empty");
  metric_ = ts.metric.empty() ? default_metric(train.task_type) : ts.metric;
  regression_ = train.task_type == TaskType::regression;
  world_ = comm_.size();
  rank_ = comm_.rank();
  // Dropout randomness: its own stream per rank (the ranks' shards get independent masks),
  // reseeded at every step from (seed, rank, step), so a resumed run draws the same masks.
  rank_seed_ = derive_seed(ts.seed, static_cast<uint64_t>(rank_));

  lengths_ = train.lengths();
  plan_opts_.batch_size = static_cast<size_t>(ts.batch_size);
  batches_per_epoch_ = Trainer::total_steps(TrainSpec{.epochs = 1, .batch_size = ts.batch_size}, train.size());
  total_ = batches_per_epoch_ * ts.epochs;
  schedule_ = LinearSchedule::from_ratio(ts.learning_rate, ts.warmup_ratio, total_);
  fwd_ = ForwardOptions{true, ts.dropout, ts.dropout};

  if (resume) {
    if (resume->total_steps != total_)
      throw Error("the checkpoint is for a run of " + std::to_string(resume->total_steps) + " steps, this one has " +
                  std::to_string(total_));
    for (const auto& [name, t] : params.tensors()) {
      auto it = resume->params.find(name);
      if (it == resume->params.end() || !it->second.sizes().equals(t.sizes()) ||
          it->second.scalar_type() != t.scalar_type())
        throw Error("the checkpoint's tensor '" + name + "' is missing or has another shape or dtype");
    }
    if (resume->params.size() != params.tensors().size())
      throw Error("the checkpoint holds tensors this task does not have");
    params.restore(resume->params);
    step_ = resume->step;
    samples_ = resume->samples;
    seconds_ = resume->train_seconds;
    best_state_ = resume->best_params;
    best_value_ = resume->best_value;
    result_.best_metrics = resume->best_metrics;
    result_.best_step = resume->best_step;
  }
  all_ = params.parameters();
  broadcast_from_rank0(all_, comm_);
  params.set_requires_grad(true);
  optimizer_ = make_adamw(params, ts.learning_rate, ts.weight_decay);
  if (resume && resume->step > 0) restore_optimizer(*optimizer_, params, *resume);
  flat_ = attach_flat_gradients(all_);
  device_opts_ = at::TensorOptions().device(flat_.buffer.device());
}

StepControl TrainRun::step() {
  const int64_t epoch = step_ / batches_per_epoch_, batch = step_ % batches_per_epoch_;
  if (epoch != plan_epoch_) {
    plan_ = plan_batches(lengths_, plan_opts_, spec_.seed, static_cast<uint64_t>(epoch));
    plan_epoch_ = epoch;
  }
  const std::vector<size_t>& global = plan_[static_cast<size_t>(batch)];
  const auto t0 = std::chrono::steady_clock::now();
  torch::manual_seed(derive_seed(rank_seed_, static_cast<uint64_t>(step_)));
  for (auto& g : optimizer_->param_groups())
    static_cast<torch::optim::AdamWOptions&>(g.options()).lr(schedule_.at(step_));
  flat_.buffer.zero_();
  const size_t n = global.size();
  double loss_sum = forward_backward(global);
  const StepControl request = cb_.control ? cb_.control(step_ + 1) : StepControl::proceed;
  const StepControl control = world_ > 1 ? reduce(loss_sum, request) : request;
  clip_gradients();
  optimizer_->step();
  ++step_;
  samples_ += static_cast<int64_t>(n);
  const double step_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  seconds_ += step_seconds;
  if (cb_.on_step && (step_ % std::max<int64_t>(1, cb_.step_every) == 0 || step_ == total_))
    cb_.on_step(StepReport{step_, total_, epoch, loss_sum / static_cast<double>(n), schedule_.at(step_ - 1),
                           seconds_ > 0 ? samples_ / seconds_ : 0, step_seconds});
  return control;
}

double TrainRun::forward_backward(const std::vector<size_t>& global) {
  // This rank's strided shard of the global batch (batches are sorted by length, so striding
  // balances the ranks' work; uneven tails leave some shards smaller, possibly empty: the
  // step's collective still runs on every rank).
  const size_t n = global.size();
  std::vector<size_t> shard;
  for (size_t k = static_cast<size_t>(rank_); k < n; k += static_cast<size_t>(world_)) shard.push_back(k);
  if (shard.empty()) return 0;
  std::vector<const Encoding*> encs;
  std::vector<int64_t> labels;
  std::vector<float> targets;
  for (size_t k : shard) {
    encs.push_back(&train_.encodings[global[k]]);
    labels.push_back(train_.labels[global[k]]);
    targets.push_back(static_cast<float>(train_.targets[global[k]]));
  }
  at::Tensor out = task_outputs(backbone_, params_, make_token_batch(encs).to(params_.device()), fwd_);
  at::Tensor loss_sum =
      regression_
          ? at::mse_loss(out.select(1, 0), torch::tensor(targets).to(out.device()), at::Reduction::Sum)
          : at::cross_entropy_loss(out, torch::tensor(labels, torch::kLong).to(out.device()), {}, at::Reduction::Sum);
  (loss_sum / static_cast<double>(n)).backward();
  return loss_sum.item<double>();
}

StepControl TrainRun::reduce(double& loss_sum, StepControl request) {
  // Loss and requests ride in the gradient buffer: one collective per step.
  at::Tensor meta = at::zeros({kMetaSlots}, at::TensorOptions().dtype(at::kFloat));
  auto* m = meta.data_ptr<float>();
  m[kLossSum] = static_cast<float>(loss_sum);
  m[kCheckpointRequests] = request == StepControl::checkpoint;
  m[kPreemptRequests] = request == StepControl::preempt;
  m[kCancelRequests] = request == StepControl::cancel;
  flat_.buffer.narrow(0, flat_.count, kMetaSlots).copy_(meta.to(device_opts_.device()));
  const auto c0 = std::chrono::steady_clock::now();
  comm_.allreduce_sum(flat_.buffer);
  result_.allreduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
  meta = flat_.buffer.narrow(0, flat_.count, kMetaSlots).to(at::kCPU);
  m = meta.data_ptr<float>();
  loss_sum = m[kLossSum];
  return m[kCancelRequests] > 0       ? StepControl::cancel
         : m[kPreemptRequests] > 0    ? StepControl::preempt
         : m[kCheckpointRequests] > 0 ? StepControl::checkpoint
                                      : StepControl::proceed;
}

void TrainRun::clip_gradients() {
  if (spec_.max_grad_norm > 0) {
    // As torch.nn.utils.clip_grad_norm_, over the flat buffer in one pass.
    const at::Tensor norm = flat_.grads.norm(2);
    flat_.grads.mul_(at::clamp_max(spec_.max_grad_norm / (norm + 1e-6), 1.0));
  }
}

void TrainRun::evaluate() {
  params_.set_requires_grad(false);
  std::map<std::string, double> metrics = trellis::evaluate(backbone_, params_, validation_, num_classes_, 64, &comm_);
  params_.set_requires_grad(true);
  offer(std::move(metrics));
}

bool TrainRun::offer(std::map<std::string, double> metrics) {
  const int64_t epoch = step_ > 0 ? (step_ - 1) / batches_per_epoch_ : 0;  // the last step's
  EvalReport report{step_, epoch, std::move(metrics), false};
  const double value = report.metrics.at(metric_);
  // A non-finite value (a diverged model) never beats a finite one.
  const bool take = !best_state_ ||
                    (std::isfinite(value) && (!std::isfinite(best_value_) || better(metric_, value, best_value_)));
  if (take) {
    best_state_ = params_.snapshot();
    best_value_ = value;
    result_.best_metrics = report.metrics;
    result_.best_step = step_;
    report.best = true;
  }
  if (cb_.on_eval) cb_.on_eval(report);
  return take;
}

TrainingCheckpoint TrainRun::checkpoint() const {
  TrainingCheckpoint c;
  c.step = step_;
  c.total_steps = total_;
  c.world_size = world_;
  c.params = params_.snapshot();
  save_optimizer(*optimizer_, params_, c);
  c.best_params = best_state_;
  c.best_metrics = result_.best_metrics;
  c.best_value = best_value_;
  c.best_step = result_.best_step;
  c.samples = samples_;
  c.train_seconds = seconds_;
  return c;
}

void TrainRun::emit_checkpoint() {
  if (rank_ != 0 || !cb_.on_checkpoint) return;
  cb_.on_checkpoint(checkpoint());
}

bool TrainRun::eval_due() const {
  const bool epoch_end = step_ % batches_per_epoch_ == 0;
  return spec_.eval_every_steps > 0 ? (step_ % spec_.eval_every_steps == 0 || step_ == total_) : epoch_end;
}

bool TrainRun::checkpoint_due(StepControl control) const {
  return (cb_.checkpoint_every > 0 && step_ % cb_.checkpoint_every == 0) || control != StepControl::proceed;
}

TrainResult TrainRun::finish(TrainOutcome outcome) {
  result_.outcome = outcome;
  result_.steps = step_;
  if (world_ > 1) {
    result_.gradient_bytes_per_step = flat_.grads.nbytes();
    result_.metadata_bytes_per_step = flat_.buffer.nbytes() - flat_.grads.nbytes();
  }
  result_.train_seconds = seconds_;
  result_.samples_per_s = seconds_ > 0 ? samples_ / seconds_ : 0;
  for (auto& t : all_) t.mutable_grad() = at::Tensor();
  params_.set_requires_grad(false);
  if (outcome != TrainOutcome::completed) return result_;
  for (const auto& [name, value] : result_.best_metrics)
    if (!std::isfinite(value))
      throw Error("training diverged: validation metric '" + name + "' is not finite at every evaluation");
  params_.restore(*best_state_);
  return result_;
}

}  // namespace trellis
