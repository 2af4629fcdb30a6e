// RoutingCommunicator sends CPU tensors to the CPU transport and refuses device tensors when it
// has no device transport.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/support/error_text.h"
#include "tests/unit/worker/fault_communicator.h"
#include "worker/routing_communicator.h"

namespace trellis {
namespace {

TEST(RoutingCommunicator, CpuTensorsGoToTheCpuTransport) {
  testing::FaultCommunicator cpu(0), device(0);
  RoutingCommunicator comm(cpu, &device);
  at::Tensor t = torch::ones({4});
  comm.allreduce_sum(t);
  comm.broadcast(t, 0);
  EXPECT_EQ(cpu.calls(), 2);
  EXPECT_EQ(device.calls(), 0);
  comm.barrier();
  EXPECT_EQ(cpu.calls(), 3);
  EXPECT_EQ(device.calls(), 1);
}

TEST(RoutingCommunicator, DeviceTensorWithoutDeviceTransportIsRefused) {
  testing::FaultCommunicator cpu(0);
  RoutingCommunicator comm(cpu, nullptr);
  at::Tensor meta = torch::ones({4}, torch::TensorOptions().device(torch::kMeta));
  EXPECT_HAS(testing::error_of([&] { comm.allreduce_sum(meta); }), "no device transport");
  EXPECT_EQ(cpu.calls(), 0);
}

}  // namespace
}  // namespace trellis
