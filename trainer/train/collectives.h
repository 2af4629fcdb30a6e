#pragma once
// Collectives built on a Communicator, for CPU-side messages between the ranks of a group.
#include <string>

namespace trellis {

class Communicator;

// Collective. `root`'s bytes reach every rank (the size first, then the bytes; the input of the
// other ranks is ignored); returns them on every rank.
std::string broadcast_bytes(Communicator& comm, const std::string& bytes, int root);

}  // namespace trellis
