#pragma once
// What rank 0 hands to every rank of its group for one job, and how it travels: a cereal binary
// archive broadcast as bytes (size first, then the bytes).
#include <optional>
#include <string>

#include "trainer/spec/job_spec.h"
#include "trainer/train/collectives.h"  // broadcast_bytes

namespace trellis {

class Communicator;

struct GroupJob {
  std::string id;               // the job's name in logs (local mode: the spec file's stem)
  JobSpec spec;                 // data paths absolute, readable by every rank
  std::string out;              // artifact directory (written by rank 0 only)
  std::string checkpoint_file;  // empty: no checkpoints
};

// A message from rank 0: the next job, or none (the group shuts down).
struct GroupMessage {
  std::optional<GroupJob> job;
};

// Collective. Rank 0's `message` reaches every rank (others' input is ignored); returns it.
GroupMessage broadcast_message(Communicator& comm, const GroupMessage& message);
// The cereal binary bytes of a message and back (exposed for tests).
std::string encode_message(const GroupMessage& message);
GroupMessage decode_message(const std::string& bytes);

}  // namespace trellis
