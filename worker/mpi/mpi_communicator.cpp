#include "worker/mpi/mpi_communicator.h"

#include <climits>
#include <string>
#include <thread>

#include <ATen/core/Tensor.h>

#include "common/error.h"

namespace trellis {
namespace {

MPI_Datatype mpi_type(const at::Tensor& t, const char* operation) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    case at::kByte: return MPI_UINT8_T;
    default: throw Error(std::string(operation) + ": unsupported dtype " + std::string(c10::toString(t.scalar_type())));
  }
}

void check_tensor(const at::Tensor& t, const char* operation) {
  if (!t.defined() || !t.device().is_cpu() || !t.is_contiguous())
    throw Error(std::string(operation) + ": the tensor must be a defined, contiguous CPU tensor");
  if (t.numel() > INT_MAX) throw Error(std::string(operation) + ": more than INT_MAX elements in one call");
}

void check(int code, const char* operation) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw Error(std::string(operation) + " failed: " + std::string(text, static_cast<size_t>(len)));
}

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, Timeout timeout) : comm_(comm), timeout_(timeout) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

void MpiCommunicator::wait(MPI_Request& request, const char* operation) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  // Spin first (a peer a few microseconds behind is the common case), then back off to sleeps
  // of up to 1 ms so that a rank waiting long (for work, or for a slow peer) leaves the core.
  for (int polls = 0;; ++polls) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), operation);
    if (done) return;
    const auto waited = clock::now() - start;
    if (timeout_ != kNoTimeout && waited > timeout_)
      throw Error(std::string(operation) + " timed out after " + std::to_string(timeout_.count()) +
                  " ms: a peer rank is dead or stuck");
    if (waited > std::chrono::milliseconds(5))
      std::this_thread::sleep_for(std::min<clock::duration>(std::chrono::milliseconds(1), waited / 100));
  }
}

void MpiCommunicator::allreduce_sum(const at::Tensor& buffer) {
  check_tensor(buffer, "MPI allreduce");
  if (size_ == 1) return;
  MPI_Request request;
  check(MPI_Iallreduce(MPI_IN_PLACE, buffer.data_ptr(), static_cast<int>(buffer.numel()),
                       mpi_type(buffer, "MPI allreduce"), MPI_SUM, comm_, &request),
        "MPI allreduce");
  wait(request, "MPI allreduce");
}

void MpiCommunicator::broadcast(const at::Tensor& tensor, int root) {
  check_tensor(tensor, "MPI broadcast");
  if (size_ == 1) return;
  MPI_Request request;
  check(MPI_Ibcast(tensor.data_ptr(), static_cast<int>(tensor.numel()), mpi_type(tensor, "MPI broadcast"), root, comm_,
                   &request),
        "MPI broadcast");
  wait(request, "MPI broadcast");
}

void MpiCommunicator::barrier() {
  if (size_ == 1) return;
  MPI_Request request;
  check(MPI_Ibarrier(comm_, &request), "MPI barrier");
  wait(request, "MPI barrier");
}

}  // namespace trellis
