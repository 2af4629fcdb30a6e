#pragma once
// TaskParams: everything one task owns on top of the shared frozen Backbone, by HF-style name.
//  - houlsby: two bottleneck adapters per layer, per-task copies of every LayerNorm, the head.
//  - full:    a trainable copy of every backbone tensor, and the head.
//  - head:    the head only (frozen encoder, feature-based baseline).
// All of a task's tensors are trainable; the forward pass takes a tensor from the task when it
// has one and from the backbone otherwise. Not thread-safe to mutate; const use may be shared.
// create() makes CPU tensors whatever the backbone's device (seeded on the CPU generator, so a
// task's initial values do not depend on the device); to() then moves them, before an optimizer
// is made.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "trainer/spec/job_spec.h"

namespace trellis {

class Backbone;

// Names of the adapter after the attention output projection ("attention") or after the FFN
// output projection ("output") of `layer`.
std::string adapter_prefix(int64_t layer, bool after_attention);
// The names and shapes of the tensors a task owns for `method` (what create() makes and
// from_tensors() requires), without allocating them.
std::vector<std::pair<std::string, std::vector<int64_t>>> task_tensor_shapes(const Backbone& backbone, Method method,
                                                                             const AdapterSpec& adapter,
                                                                             int64_t num_outputs);
// 2md + d + m: parameters of one adapter with hidden size d and bottleneck m.
int64_t adapter_parameter_count(int64_t hidden, int64_t bottleneck);

class TaskParams {
 public:
  // Fresh parameters, deterministic in `seed`: adapters ~ truncated normal(0, init_std) within
  // 2 std, biases 0; LayerNorms copied from the backbone; head ~ normal(0, 0.02), bias 0.
  static TaskParams create(const Backbone& backbone, Method method, const AdapterSpec& adapter, int64_t num_outputs,
                           uint64_t seed);
  // Adopts tensors loaded from an artifact; the names, shapes and dtypes must be exactly those
  // that create() gives (trellis::Error naming the tensor otherwise).
  static TaskParams from_tensors(const Backbone& backbone, Method method, const AdapterSpec& adapter,
                                 int64_t num_outputs, std::map<std::string, at::Tensor> tensors,
                                 const std::string& origin);

  Method method() const { return method_; }
  const AdapterSpec& adapter() const { return adapter_; }
  int64_t num_outputs() const { return num_outputs_; }
  bool has_adapters() const { return method_ == Method::houlsby; }

  // The task's tensor called `name`, or nullptr (then the backbone's applies).
  const at::Tensor* find(const std::string& name) const;
  const std::map<std::string, at::Tensor>& tensors() const { return tensors_; }
  std::vector<at::Tensor> parameters() const;  // in name order
  int64_t num_parameters() const;

  void set_requires_grad(bool on);
  // The device of the task's tensors (all on one).
  at::Device device() const;
  // Moves every tensor to `device`, keeping its requires_grad; tensors already there are kept
  // as they are. Invalidates references to the old tensors (an optimizer made before this call).
  void to(const at::Device& device);
  // Deep copies, for keeping the best checkpoint and restoring it.
  std::map<std::string, at::Tensor> snapshot() const;
  void restore(const std::map<std::string, at::Tensor>& snapshot);

 private:
  TaskParams(Method method, AdapterSpec adapter, int64_t num_outputs, std::map<std::string, at::Tensor> tensors);
  Method method_;
  AdapterSpec adapter_;
  int64_t num_outputs_;
  std::map<std::string, at::Tensor> tensors_;
};

}  // namespace trellis
