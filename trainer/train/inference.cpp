#include "trainer/train/inference.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "trainer/data/batching.h"
#include "trainer/data/metrics.h"
#include "trainer/model/encoder.h"
#include "trainer/model/task_params.h"
#include "trainer/train/communicator.h"
#include "common/error.h"

namespace trellis {

at::Tensor infer_outputs(const Backbone& backbone, const TaskParams& task, const EncodedDataset& data,
                         size_t batch_size, Communicator* comm) {
  c10::InferenceMode guard;
  const int64_t n = static_cast<int64_t>(data.size());
  const int world = comm ? comm->size() : 1, rank = comm ? comm->rank() : 0;
  // Sharded: rows another rank computes stay 0 here, and the sum fills them in exactly.
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor out = world > 1 ? at::zeros({n, task.num_outputs()}, f32) : at::empty({n, task.num_outputs()}, f32);
  if (n == 0) return out;
  BatchPlanOptions plan;
  plan.batch_size = batch_size;
  plan.shuffle = false;
  const auto batches = plan_batches(data.lengths(), plan, 0, 0);
  for (size_t b = static_cast<size_t>(rank); b < batches.size(); b += static_cast<size_t>(world)) {
    const auto& batch_idx = batches[b];
    std::vector<const Encoding*> encs;
    encs.reserve(batch_idx.size());
    for (size_t i : batch_idx) encs.push_back(&data.encodings[i]);
    at::Tensor y = task_outputs(backbone, task, make_token_batch(encs).to(task.device()), ForwardOptions{});
    std::vector<int64_t> rows(batch_idx.begin(), batch_idx.end());
    out.index_copy_(0, at::tensor(rows, at::TensorOptions().dtype(at::kLong)), y.to(at::kCPU, at::kFloat));
  }
  if (world > 1) comm->allreduce_sum(out);
  return out;
}

std::map<std::string, double> metrics_from_outputs(const at::Tensor& outputs, const EncodedDataset& data,
                                                   size_t num_classes) {
  if (data.task_type == TaskType::regression) {
    at::Tensor v = outputs.select(1, 0).to(at::kDouble).contiguous();
    std::vector<double> pred(v.data_ptr<double>(), v.data_ptr<double>() + v.numel());
    return regression_metrics(pred, data.targets);
  }
  at::Tensor a = outputs.argmax(1).contiguous();
  std::vector<int64_t> pred(a.data_ptr<int64_t>(), a.data_ptr<int64_t>() + a.numel());
  return classification_metrics(pred, data.labels, num_classes);
}

std::map<std::string, double> evaluate(const Backbone& backbone, const TaskParams& task, const EncodedDataset& data,
                                       size_t num_classes, size_t batch_size, Communicator* comm) {
  if (data.size() == 0) throw Error("cannot evaluate on an empty dataset");
  return metrics_from_outputs(infer_outputs(backbone, task, data, batch_size, comm), data, num_classes);
}

}  // namespace trellis
