#pragma once
// A fake Communicator for tests: one rank (collectives are the identity) that throws on its
// `fail_at`-th collective (1-based; 0: never), as a communicator does when a peer is lost.
#include "trainer/train/communicator.h"
#include "common/error.h"

namespace trellis::testing {

class FaultCommunicator final : public Communicator {
 public:
  explicit FaultCommunicator(int fail_at) : fail_at_(fail_at) {}
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(const at::Tensor&) override { tick("allreduce"); }
  void broadcast(const at::Tensor&, int) override { tick("broadcast"); }
  void barrier() override { tick("barrier"); }
  int calls() const { return calls_; }

 private:
  void tick(const char* op) {
    if (++calls_ == fail_at_) throw Error(std::string("injected ") + op + " failure");
  }
  int fail_at_;
  int calls_ = 0;
};

}  // namespace trellis::testing
