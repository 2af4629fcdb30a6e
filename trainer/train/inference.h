#pragma once
// Batched inference of one task on a resident backbone: outputs, predictions and metrics.
// Runs without autograd (inference mode). Thread-safety: reads backbone and task only.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "trainer/train/encoded_dataset.h"

namespace trellis {

class Backbone;
class TaskParams;

// Raw head outputs for every example, [N, num_outputs], in the dataset's order. Examples are
// batched by length (dynamic padding); `batch_size` examples per batch.
at::Tensor infer_outputs(const Backbone& backbone, const TaskParams& task, const EncodedDataset& data,
                         size_t batch_size = 64);

// accuracy, macro_f1, mcc (classification) or pearson, spearman, mse (regression).
std::map<std::string, double> evaluate(const Backbone& backbone, const TaskParams& task, const EncodedDataset& data,
                                       size_t num_classes, size_t batch_size = 64);
std::map<std::string, double> metrics_from_outputs(const at::Tensor& outputs, const EncodedDataset& data,
                                                   size_t num_classes);

}  // namespace trellis
