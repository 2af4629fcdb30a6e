#pragma once
// The optimizer of a task's parameters: AdamW with weight decay on weight matrices only
// (not on biases and LayerNorms), as in BERT fine-tuning.
#include <memory>
#include <string>

#include <torch/optim/adamw.h>

namespace trellis {

class TaskParams;

bool takes_weight_decay(const std::string& tensor_name);

// Two parameter groups over `params`' tensors (which it does not own; they must outlive the
// optimizer): decayed and not. The learning rate is set per step by the caller.
std::unique_ptr<torch::optim::AdamW> make_adamw(const TaskParams& params, double learning_rate, double weight_decay);

}  // namespace trellis
