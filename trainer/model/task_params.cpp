#include "trainer/model/task_params.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "trainer/model/backbone.h"
#include "common/error.h"

namespace trellis {
namespace {

// Truncated normal on [-2 std, 2 std] by resampling, deterministic in `gen`.
at::Tensor truncated_normal(at::IntArrayRef shape, double std, at::Generator& gen) {
  at::Tensor t = at::normal(0.0, 1.0, shape, gen);
  for (int round = 0; round < 100; ++round) {
    at::Tensor bad = t.abs() > 2.0;
    if (!bad.any().item<bool>()) break;
    t = at::where(bad, at::normal(0.0, 1.0, shape, gen), t);
  }
  return t.clamp(-2.0, 2.0) * std;
}

}  // namespace

std::string adapter_prefix(int64_t layer, bool after_attention) {
  return "encoder.layer." + std::to_string(layer) +
         (after_attention ? ".attention.output.adapter." : ".output.adapter.");
}

int64_t adapter_parameter_count(int64_t d, int64_t m) { return 2 * m * d + d + m; }

TaskParams::TaskParams(Method method, AdapterSpec adapter, int64_t num_outputs,
                       std::map<std::string, at::Tensor> tensors)
    : method_(method), adapter_(adapter), num_outputs_(num_outputs), tensors_(std::move(tensors)) {}

std::vector<std::pair<std::string, std::vector<int64_t>>> task_tensor_shapes(const Backbone& backbone, Method method,
                                                                             const AdapterSpec& adapter,
                                                                             int64_t num_outputs) {
  const BertConfig& c = backbone.config();
  const int64_t d = c.hidden_size, m = adapter.bottleneck;
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& [name, w] : backbone.weights())
    if (method == Method::full || (method == Method::houlsby && is_layer_norm_tensor(name)))
      shapes.emplace_back(name, std::vector<int64_t>(w.sizes().begin(), w.sizes().end()));
  if (method == Method::houlsby)
    for (int64_t i = 0; i < c.num_hidden_layers; ++i)
      for (bool att : {true, false}) {
        const std::string p = adapter_prefix(i, att);
        shapes.push_back({p + "adapter_down.weight", {m, d}});
        shapes.push_back({p + "adapter_down.bias", {m}});
        shapes.push_back({p + "adapter_up.weight", {d, m}});
        shapes.push_back({p + "adapter_up.bias", {d}});
      }
  shapes.push_back({"classifier.weight", {num_outputs, d}});
  shapes.push_back({"classifier.bias", {num_outputs}});
  return shapes;
}

TaskParams TaskParams::create(const Backbone& backbone, Method method, const AdapterSpec& adapter, int64_t num_outputs,
                              uint64_t seed) {
  if (num_outputs <= 0) throw Error("a task needs at least one output");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> t;
  // In the order of task_tensor_shapes, so the random draws are the same for the same seed.
  for (const auto& [name, shape] : task_tensor_shapes(backbone, method, adapter, num_outputs)) {
    at::Tensor init;
    if (name.starts_with("classifier.weight")) init = at::normal(0.0, 0.02, shape, gen);
    else if (name.find(".adapter.") != std::string::npos && name.ends_with(".weight"))
      init = truncated_normal(shape, adapter.init_std, gen);
    else if (backbone.weights().count(name))  // full copy, LayerNorms; on CPU like the rest
      init = backbone.weight(name).to(at::kCPU, /*non_blocking=*/false, /*copy=*/true);
    else init = at::zeros(shape);  // adapter and head biases
    t.emplace(name, std::move(init));
  }
  TaskParams p(method, adapter, num_outputs, std::move(t));
  p.set_requires_grad(true);
  return p;
}

TaskParams TaskParams::from_tensors(const Backbone& backbone, Method method, const AdapterSpec& adapter,
                                    int64_t num_outputs, std::map<std::string, at::Tensor> tensors,
                                    const std::string& origin) {
  if (num_outputs <= 0) throw Error("a task needs at least one output");
  const auto expected = task_tensor_shapes(backbone, method, adapter, num_outputs);
  for (const auto& [name, shape] : expected) {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw Error(origin + ": tensor '" + name + "' is missing");
    if (it->second.scalar_type() != at::kFloat) throw Error(origin + ": tensor '" + name + "' must be F32");
    if (it->second.sizes() != at::IntArrayRef(shape))
      throw Error(origin + ": tensor '" + name + "' has the wrong shape for this adapter config");
  }
  if (tensors.size() != expected.size())
    for (const auto& [name, t] : tensors)
      if (std::none_of(expected.begin(), expected.end(), [&](const auto& e) { return e.first == name; }))
        throw Error(origin + ": unexpected tensor '" + name + "'");
  TaskParams p(method, adapter, num_outputs, std::move(tensors));
  p.set_requires_grad(false);
  return p;
}

const at::Tensor* TaskParams::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<at::Tensor> TaskParams::parameters() const {
  std::vector<at::Tensor> out;
  out.reserve(tensors_.size());
  for (const auto& [name, t] : tensors_) out.push_back(t);
  return out;
}

int64_t TaskParams::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : tensors_) n += t.numel();
  return n;
}

void TaskParams::set_requires_grad(bool on) {
  for (auto& [name, t] : tensors_) t.set_requires_grad(on);
}

at::Device TaskParams::device() const { return tensors_.begin()->second.device(); }

void TaskParams::to(const at::Device& device) {
  for (auto& [name, t] : tensors_) {
    if (t.device() == device) continue;
    at::Tensor moved = t.detach().to(device);
    moved.set_requires_grad(t.requires_grad());
    t = std::move(moved);
  }
}

std::map<std::string, at::Tensor> TaskParams::snapshot() const {
  std::map<std::string, at::Tensor> out;
  for (const auto& [name, t] : tensors_) out.emplace(name, t.detach().clone());
  return out;
}

void TaskParams::restore(const std::map<std::string, at::Tensor>& snapshot) {
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : tensors_) t.copy_(snapshot.at(name));
}

}  // namespace trellis
