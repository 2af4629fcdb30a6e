#include "trainer/train/optimizer.h"

#include "trainer/model/backbone.h"
#include "trainer/model/task_params.h"

namespace trellis {

bool takes_weight_decay(const std::string& name) { return !name.ends_with(".bias") && !is_layer_norm_tensor(name); }

std::unique_ptr<torch::optim::AdamW> make_adamw(const TaskParams& params, double learning_rate, double weight_decay) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& [name, t] : params.tensors()) (takes_weight_decay(name) ? decay : no_decay).push_back(t);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty())
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(learning_rate).weight_decay(weight_decay)));
  if (!no_decay.empty())
    groups.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                                      torch::optim::AdamWOptions(learning_rate).weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups));
}

}  // namespace trellis
