#pragma once
// The process's MPI session: MPI_Init_thread on construction (MPI_THREAD_FUNNELED: only the
// thread that constructed it makes MPI calls), MPI_Finalize on destruction. One per process,
// built first in main. Knows the world rank and size and, from MPI_Comm_split_type(SHARED), the
// rank's index among the ranks on its node (the device index for NCCL) and their count.
#include <mpi.h>

namespace trellis {

class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }

  // Ends every rank of the world now (MPI_Abort); the launcher then exits non-zero.
  [[noreturn]] static void abort_world(int exit_code);

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace trellis
