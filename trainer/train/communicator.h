#pragma once
// Collective operations among the ranks of one worker group, as the trainer needs them.
// Contract (as c10d's): every rank calls the same collectives in the same order with tensors of
// the same shapes, dtypes and devices; calls block until the result is usable on the calling
// thread's current stream (CPU: complete); not thread-safe (one caller thread per communicator).
// A failure (a peer that died, a timeout) throws trellis::Error naming the operation.
// Implementations: LocalCommunicator (one rank, here); MpiCommunicator and NcclCommunicator in worker/.
#include <ATen/core/Tensor.h>

namespace trellis {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In-place elementwise sum over ranks of one contiguous tensor (the trainer passes every
  // gradient of a step as one flat buffer, so a step costs one collective).
  virtual void allreduce_sum(const at::Tensor& buffer) = 0;
  // In-place copy of `root`'s contiguous tensor to every rank.
  virtual void broadcast(const at::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
};

// The single-rank communicator: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(const at::Tensor&) override {}
  void broadcast(const at::Tensor&, int) override {}
  void barrier() override {}
};

}  // namespace trellis
