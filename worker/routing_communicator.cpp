#include "worker/routing_communicator.h"

#include <string>

#include "common/error.h"

namespace trellis {

RoutingCommunicator::RoutingCommunicator(Communicator& cpu, Communicator* device) : cpu_(cpu), device_(device) {
  if (device_ && (device_->rank() != cpu_.rank() || device_->size() != cpu_.size()))
    throw Error("the device communicator's ranks differ from the CPU communicator's");
}

Communicator& RoutingCommunicator::pick(const at::Tensor& t) {
  if (t.device().is_cpu()) return cpu_;
  if (!device_)
    throw Error("a collective on a " + t.device().str() + " tensor, but this group has no device transport");
  return *device_;
}

void RoutingCommunicator::barrier() {
  if (device_) device_->barrier();
  cpu_.barrier();
}

}  // namespace trellis
