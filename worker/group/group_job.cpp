#include "worker/group/group_job.h"

#include <sstream>

#include <cereal/archives/binary.hpp>

#include "trainer/spec/job_spec_cereal.h"
#include "trainer/train/collectives.h"
#include "trainer/train/communicator.h"
#include "common/error.h"

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

GroupMessage broadcast_message(Communicator& comm, const GroupMessage& message) {
  if (comm.size() == 1) return message;
  const std::string bytes = broadcast_bytes(comm, comm.rank() == 0 ? encode_message(message) : std::string(), 0);
  return comm.rank() == 0 ? message : decode_message(bytes);
}

}  // namespace trellis
