#pragma once
// Collective operations among the ranks of one worker group, as the trainer needs them.
// Contract (as c10d's): every rank calls the same collectives in the same order with tensors of
// the same shapes and dtypes; calls block until complete; not thread-safe (one caller thread).
// Implementations: LocalCommunicator (one rank, here); MPI and NCCL ones live in worker/.
#include <vector>

#include <ATen/core/Tensor.h>

namespace trellis {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // In-place elementwise sum over ranks of each tensor.
  virtual void allreduce_sum(std::vector<at::Tensor>& tensors) = 0;
  // In-place copy of `root`'s tensor to every rank.
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
};

// The single-rank communicator: every collective is the identity.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::vector<at::Tensor>&) override {}
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
};

}  // namespace trellis
