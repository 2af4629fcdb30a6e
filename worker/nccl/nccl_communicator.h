#pragma once
// NcclCommunicator: the trellis::Communicator of one worker group on CUDA tensors, over NCCL.
// Contract:
//  - create() is collective over `bootstrap` (the group's MPI communicator, or a
//    LocalCommunicator for one rank): rank 0 makes the NCCL unique id, the bootstrap broadcasts
//    it (CPU uint8 tensor), every rank selects its device (cudaSetDevice: the calling thread's
//    current device), the bootstrap sums who failed (CPU int32), and all join the NCCL
//    communicator with bootstrap's rank and size. Blocks until all ranks joined.
//  - Every rank calls the same collectives in the same order, on contiguous CUDA tensors of
//    the same shape and dtype on this communicator's device (float, half, bfloat16, double,
//    int32, int64, uint8); anything else throws trellis::Error before any communication.
//  - Streams: collectives run on the communicator's own CUDA stream. It first waits on an event
//    recorded on the caller's current stream (so pending kernels that write the buffer finish
//    first); afterwards the caller's current stream waits on an event recorded after the
//    collective. So calls return at once, and the result is usable in stream order on the
//    caller's current stream (the Communicator contract); the host sees it after a sync (e.g.
//    .item(), .to(kCPU)). barrier() alone blocks the host until the group met.
//  - Errors: every NCCL/CUDA call is checked; a failure throws trellis::Error naming the call and
//    NCCL's message. Asynchronous failures (a peer died) surface at barrier() or at the next
//    call; after a failure the communicator is unusable and its destructor aborts it.
//  - Not thread-safe: one caller thread per communicator. Not copyable, not movable.
#include <memory>

#include <ATen/core/Tensor.h>
#include <c10/core/Stream.h>

#include "trainer/train/communicator.h"

struct ncclComm;    // ncclComm_t, from <nccl.h>
struct CUevent_st;  // cudaEvent_t, from <cuda_runtime_api.h>

namespace trellis {

class NcclCommunicator final : public Communicator {
 public:
  // Collective over `bootstrap`; `device_index` is this rank's CUDA device (usually its local
  // rank on the node). Throws trellis::Error (on every rank) if any step fails.
  static std::unique_ptr<NcclCommunicator> create(Communicator& bootstrap, int device_index);
  ~NcclCommunicator() override;  // ncclCommFinalize + ncclCommDestroy, or ncclCommAbort after an error

  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int device_index() const { return device_; }
  void allreduce_sum(const at::Tensor& buffer) override;
  void broadcast(const at::Tensor& tensor, int root) override;
  void barrier() override;

 private:
  NcclCommunicator(ncclComm* comm, int rank, int size, int device, c10::Stream stream);
  void create_events();
  // Runs `collective` (the NCCL function `call`) on the communicator's stream, ordered against
  // the caller's current stream.
  template <class Collective>
  void run_ordered(const char* op, const char* call, const at::Tensor& tensor, Collective&& collective);
  void check_usable(const char* op);

  ncclComm* comm_;
  int rank_, size_, device_;
  c10::Stream stream_;
  bool failed_ = false;
  // Ordering events (no timing), reused by every collective: inputs ready on the caller's
  // stream; collective done on the communicator's stream.
  CUevent_st* inputs_ready_ = nullptr;
  CUevent_st* done_ = nullptr;
  at::Tensor barrier_buffer_;  // one float on the device, made by the first barrier()
};

}  // namespace trellis
