#pragma once
// A Communicator that sends each collective to the transport for its tensor's device: CPU
// tensors (control messages, evaluation outputs, checkpoints) to `cpu` (MPI), device tensors
// (the step's gradient buffer on a GPU) to `device` (NCCL). Both must span the same ranks in the
// same order. Contract otherwise as Communicator; does not own either transport.
#include "trainer/train/communicator.h"

namespace trellis {

class RoutingCommunicator final : public Communicator {
 public:
  // `device` may be null: then every tensor must be on the CPU.
  RoutingCommunicator(Communicator& cpu, Communicator* device);
  int rank() const override { return cpu_.rank(); }
  int size() const override { return cpu_.size(); }
  void allreduce_sum(const at::Tensor& buffer) override { pick(buffer).allreduce_sum(buffer); }
  void broadcast(const at::Tensor& tensor, int root) override { pick(tensor).broadcast(tensor, root); }
  // Both transports: work queued on either is complete.
  void barrier() override;

 private:
  Communicator& pick(const at::Tensor& t);
  Communicator& cpu_;
  Communicator* device_;
};

}  // namespace trellis
