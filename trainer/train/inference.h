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
class Communicator;

// Raw head outputs for every example, [N, num_outputs] float on the CPU, in the dataset's order.
// Examples are batched by length (dynamic padding); `batch_size` examples per batch.
// With a communicator of size > 1 (a collective: every rank calls it with the same data), the
// batches are dealt round-robin to the ranks and the outputs summed, so every rank returns all
// outputs, each computed in the same batch as a single rank would (bit-identical results).
at::Tensor infer_outputs(const Backbone& backbone, const TaskParams& task, const EncodedDataset& data,
                         size_t batch_size = 64, Communicator* comm = nullptr);

// accuracy, macro_f1, mcc (classification) or pearson, spearman, mse (regression).
std::map<std::string, double> evaluate(const Backbone& backbone, const TaskParams& task, const EncodedDataset& data,
                                       size_t num_classes, size_t batch_size = 64, Communicator* comm = nullptr);
std::map<std::string, double> metrics_from_outputs(const at::Tensor& outputs, const EncodedDataset& data,
                                                   size_t num_classes);

}  // namespace trellis
