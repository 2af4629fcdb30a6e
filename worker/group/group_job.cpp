#include "worker/group/group_job.h"

#include <cstring>
#include <sstream>

#include <ATen/ATen.h>
#include <cereal/archives/binary.hpp>

#include "trainer/spec/job_spec_cereal.h"
#include "trainer/train/communicator.h"
#include "trainer/util/error.h"

namespace trellis {

template <class Archive>
void serialize(Archive& ar, GroupJob& j) {
  ar(j.id, j.spec, j.out, j.checkpoint_file);
}

template <class Archive>
void serialize(Archive& ar, GroupMessage& m) {
  ar(m.job);
}

std::string encode_message(const GroupMessage& message) {
  std::ostringstream out;
  {
    cereal::BinaryOutputArchive archive(out);
    archive(const_cast<GroupMessage&>(message));
  }
  return out.str();
}

GroupMessage decode_message(const std::string& bytes) {
  std::istringstream in(bytes);
  GroupMessage message;
  try {
    cereal::BinaryInputArchive archive(in);
    archive(message);
    if (in.peek() != std::char_traits<char>::eof()) throw Error("trailing bytes");
  } catch (const std::exception& e) {
    throw Error(std::string("malformed group message: ") + e.what());
  }
  return message;
}

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

GroupMessage broadcast_message(Communicator& comm, const GroupMessage& message) {
  if (comm.size() == 1) return message;
  const std::string bytes = broadcast_bytes(comm, comm.rank() == 0 ? encode_message(message) : std::string(), 0);
  return comm.rank() == 0 ? message : decode_message(bytes);
}

}  // namespace trellis
