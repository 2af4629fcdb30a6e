#include "trainer/train/collectives.h"

#include <cstring>

#include <ATen/ATen.h>

#include "trainer/train/communicator.h"

namespace trellis {

std::string broadcast_bytes(Communicator& comm, const std::string& bytes, int root) {
  if (comm.size() == 1) return bytes;
  const bool mine = comm.rank() == root;
  at::Tensor size = at::tensor({static_cast<int64_t>(mine ? bytes.size() : 0)}, at::TensorOptions().dtype(at::kLong));
  comm.broadcast(size, root);
  at::Tensor buffer = at::empty({size.item<int64_t>()}, at::TensorOptions().dtype(at::kByte));
  if (mine && !bytes.empty()) std::memcpy(buffer.data_ptr(), bytes.data(), bytes.size());
  comm.broadcast(buffer, root);
  if (mine) return bytes;
  return std::string(static_cast<const char*>(buffer.data_ptr()), static_cast<size_t>(buffer.numel()));
}

}  // namespace trellis
