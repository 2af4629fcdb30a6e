#pragma once
// trellis::Communicator over MPI, for CPU tensors. Each collective is one nonblocking MPI call
// (MPI_Iallreduce / MPI_Ibcast / MPI_Ibarrier) completed by polling, so that a collective a peer
// never joins (a dead or stuck rank) ends after `timeout` with a trellis::Error naming the
// operation, instead of hanging the group; the caller then aborts the world.
// Contract: as Communicator (same collectives, same order, same shapes on every rank); one
// caller thread, the one that initialised MPI. Does not own the MPI communicator.
#include <chrono>

#include <mpi.h>

#include "trainer/train/communicator.h"

namespace trellis {

class MpiCommunicator final : public Communicator {
 public:
  using Timeout = std::chrono::milliseconds;
  static constexpr Timeout kNoTimeout{0};

  explicit MpiCommunicator(MPI_Comm comm, Timeout timeout = kNoTimeout);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allreduce_sum(const at::Tensor& buffer) override;
  void broadcast(const at::Tensor& tensor, int root) override;
  void barrier() override;

  // The bound on each collective's wait from now on (kNoTimeout: wait forever, e.g. while rank 0
  // waits for work to hand out).
  void set_timeout(Timeout timeout) { timeout_ = timeout; }
  Timeout timeout() const { return timeout_; }

 private:
  void wait(MPI_Request& request, const char* operation);
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  Timeout timeout_;
};

}  // namespace trellis
