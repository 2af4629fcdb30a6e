#include "worker/nccl/nccl_communicator.h"

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <ATen/ATen.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include "common/error.h"

namespace trellis {
namespace {

void check_nccl(ncclResult_t result, const char* call, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess) return;
  std::string message = std::string(call) + " failed: " + ncclGetErrorString(result);
  if (comm) {
    const char* last = ncclGetLastError(comm);
    if (last && *last) message += std::string(" (") + last + ")";
  }
  throw Error(message);
}

void check_cuda(cudaError_t result, const char* call) {
  if (result != cudaSuccess) throw Error(std::string(call) + " failed: " + cudaGetErrorString(result));
}

ncclDataType_t nccl_type(at::ScalarType type, const char* op) {
  switch (type) {
    case at::kFloat: return ncclFloat32;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kDouble: return ncclFloat64;
    case at::kInt: return ncclInt32;
    case at::kLong: return ncclInt64;
    case at::kByte: return ncclUint8;
    default: throw Error(std::string("NcclCommunicator::") + op + ": unsupported dtype " + c10::toString(type));
  }
}

// The NCCL type of a tensor the collectives accept: contiguous, on CUDA device `device`.
ncclDataType_t checked_type(const at::Tensor& tensor, int device, const char* op) {
  if (!tensor.defined() || !tensor.is_cuda() || tensor.get_device() != device)
    throw Error(std::string("NcclCommunicator::") + op + ": the tensor must be on CUDA device " +
                std::to_string(device));
  if (!tensor.is_contiguous()) throw Error(std::string("NcclCommunicator::") + op + ": the tensor must be contiguous");
  return nccl_type(tensor.scalar_type(), op);
}

}  // namespace

std::unique_ptr<NcclCommunicator> NcclCommunicator::create(Communicator& bootstrap, int device_index) {
  // The id plus a status byte: if rank 0 cannot make an id, every rank learns it and throws
  // instead of waiting in ncclCommInitRank for a rank that never comes.
  constexpr int64_t kIdBytes = sizeof(ncclUniqueId);
  at::Tensor message = at::zeros({kIdBytes + 1}, at::TensorOptions().dtype(at::kByte));
  std::string root_error;
  if (bootstrap.rank() == 0) {
    ncclUniqueId id;
    const ncclResult_t r = ncclGetUniqueId(&id);
    if (r == ncclSuccess) {
      std::memcpy(message.data_ptr(), &id, kIdBytes);
      message.data_ptr<uint8_t>()[kIdBytes] = 1;
    } else {
      root_error = std::string("ncclGetUniqueId failed: ") + ncclGetErrorString(r);
    }
  }
  bootstrap.broadcast(message, 0);
  if (!root_error.empty()) throw Error(root_error);
  if (message.data_ptr<uint8_t>()[kIdBytes] != 1)
    throw Error("NcclCommunicator: rank 0 could not create the NCCL unique id");
  ncclUniqueId id;
  std::memcpy(&id, message.data_ptr(), kIdBytes);

  // Every rank selects its device, and all learn whether any could not, so that no rank waits in
  // ncclCommInitRank for one that already gave up.
  std::string local_error;
  const int devices = static_cast<int>(c10::cuda::device_count());
  if (device_index < 0 || device_index >= devices) {
    local_error = "NcclCommunicator: CUDA device " + std::to_string(device_index) + " does not exist (" +
                  std::to_string(devices) + " visible)";
  } else if (const cudaError_t e = cudaSetDevice(device_index); e != cudaSuccess) {
    local_error = std::string("cudaSetDevice failed: ") + cudaGetErrorString(e);
  }
  at::Tensor failures = at::full({1}, local_error.empty() ? 0 : 1, at::TensorOptions().dtype(at::kInt));
  bootstrap.allreduce_sum(failures);
  if (!local_error.empty()) throw Error(local_error);
  if (const int n = failures.item<int>(); n > 0)
    throw Error("NcclCommunicator: " + std::to_string(n) + " rank(s) could not select their CUDA device");
  ncclComm_t comm = nullptr;
  check_nccl(ncclCommInitRank(&comm, bootstrap.size(), id, bootstrap.rank()), "ncclCommInitRank");
  const c10::Stream stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device_index);
  std::unique_ptr<NcclCommunicator> self(
      new NcclCommunicator(comm, bootstrap.rank(), bootstrap.size(), device_index, stream));
  self->create_events();  // on failure, self's destructor releases the communicator
  return self;
}

void NcclCommunicator::create_events() {
  check_cuda(cudaEventCreateWithFlags(&inputs_ready_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreateWithFlags");
}

NcclCommunicator::NcclCommunicator(ncclComm* comm, int rank, int size, int device, c10::Stream stream)
    : comm_(comm), rank_(rank), size_(size), device_(device), stream_(stream) {}

NcclCommunicator::~NcclCommunicator() {
  if (!comm_) return;
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  barrier_buffer_.reset();
  if (inputs_ready_) cudaEventDestroy(inputs_ready_);
  if (done_) cudaEventDestroy(done_);
  // Results are ignored: a destructor must not throw, and nothing is left to report to.
  if (!failed_ && ncclCommFinalize(comm_) == ncclSuccess) {
    ncclCommDestroy(comm_);
  } else {
    ncclCommAbort(comm_);
  }
}

void NcclCommunicator::check_usable(const char* op) {
  if (failed_) throw Error(std::string("NcclCommunicator::") + op + ": the communicator failed earlier");
  ncclResult_t async = ncclSuccess;
  check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError", comm_);
  if (async != ncclSuccess) {
    failed_ = true;
    check_nccl(async, "an earlier NCCL collective", comm_);
  }
}

template <class Collective>
void NcclCommunicator::run_ordered(const char* op, const char* call, const at::Tensor& tensor,
                                   Collective&& collective) {
  check_usable(op);
  const ncclDataType_t type = checked_type(tensor, device_, op);

  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_));
  const c10::cuda::CUDAStream comm_stream(c10::cuda::CUDAStream::UNCHECKED, stream_);
  check_cuda(cudaEventRecord(inputs_ready_, compute.stream()), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(comm_stream.stream(), inputs_ready_, 0), "cudaStreamWaitEvent");
  // The buffer's memory must not be reused by the allocator before the collective is done.
  c10::cuda::CUDACachingAllocator::recordStream(tensor.storage().data_ptr(), comm_stream);
  try {
    check_nccl(collective(tensor.data_ptr(), static_cast<size_t>(tensor.numel()), type, comm_stream.stream()), call,
               comm_);
  } catch (...) {
    failed_ = true;
    throw;
  }
  check_cuda(cudaEventRecord(done_, comm_stream.stream()), "cudaEventRecord");
  check_cuda(cudaStreamWaitEvent(compute.stream(), done_, 0), "cudaStreamWaitEvent");
}

void NcclCommunicator::allreduce_sum(const at::Tensor& buffer) {
  run_ordered("allreduce_sum", "ncclAllReduce", buffer,
              [&](void* data, size_t count, ncclDataType_t type, cudaStream_t stream) {
                return ncclAllReduce(data, data, count, type, ncclSum, comm_, stream);
              });
}

void NcclCommunicator::broadcast(const at::Tensor& tensor, int root) {
  if (root < 0 || root >= size_)
    throw Error("NcclCommunicator::broadcast: root " + std::to_string(root) + " is not a rank of " +
                std::to_string(size_));
  run_ordered("broadcast", "ncclBroadcast", tensor,
              [&](void* data, size_t count, ncclDataType_t type, cudaStream_t stream) {
                return ncclBroadcast(data, data, count, type, root, comm_, stream);
              });
}

void NcclCommunicator::barrier() {
  c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
  if (!barrier_buffer_.defined())
    barrier_buffer_ = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device_));
  allreduce_sum(barrier_buffer_);
  // Wait for the communicator's stream without hanging on a failed peer: poll the stream and
  // NCCL's asynchronous error state.
  const cudaStream_t stream = c10::cuda::CUDAStream(c10::cuda::CUDAStream::UNCHECKED, stream_).stream();
  for (;;) {
    const cudaError_t state = cudaStreamQuery(stream);
    if (state == cudaSuccess) return;
    if (state != cudaErrorNotReady) {
      failed_ = true;
      check_cuda(state, "cudaStreamQuery (NcclCommunicator::barrier)");
    }
    check_usable("barrier");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

}  // namespace trellis
