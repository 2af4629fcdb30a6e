#pragma once
// The BERT forward pass with optional per-task parameters (Houlsby adapters, LayerNorms, head).
// Every sublayer is LayerNorm(x + Adapter(Dropout(Proj(sublayer(x))))) with
// Adapter(h) = h + Up(f(Down(h))), the adapter present only when the task has one.
// Work is done on packed real tokens; only the attention core sees the padded layout.
// Thread-safety: pure functions of their inputs; they read the backbone and task tensors.
// Device: backbone, task and batch must be on one device; everything made inside is made there
// (dropout on CUDA is at::dropout, see fast_dropout.h). Autocast, if enabled, applies as usual.
#include <ATen/core/Tensor.h>

#include "trainer/model/token_batch.h"

namespace trellis {

class Backbone;
class TaskParams;

struct ForwardOptions {
  bool training = false;        // dropout on when true
  double hidden_dropout = 0.0;  // used only when training
  double attention_dropout = 0.0;
};

// Last hidden states of the real tokens, [T, hidden]. `task` may be null (plain backbone).
at::Tensor encode(const Backbone& backbone, const TaskParams* task, const TokenBatch& batch,
                  const ForwardOptions& options);

// Final hidden states of the [CLS] rows only, [B, hidden]: equal to encode()'s [CLS] rows, but the
// last layer computes only what they need.
at::Tensor encode_cls(const Backbone& backbone, const TaskParams* task, const TokenBatch& batch,
                      const ForwardOptions& options);

// The task head on the final [CLS] states: [B, num_outputs] logits (or regression values).
at::Tensor task_outputs(const Backbone& backbone, const TaskParams& task, const TokenBatch& batch,
                        const ForwardOptions& options);

}  // namespace trellis
