// The encoder's shortcuts compute the same function as the plain pass; dropout is reproducible.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/unit/trainer/test_support.h"
#include "trainer/model/encoder.h"
#include "trainer/model/fast_dropout.h"
#include "trainer/model/task_params.h"

namespace trellis {
namespace {

TokenBatch ragged_batch(std::vector<Encoding>& encs) {
  encs.assign(4, {});
  for (int64_t b = 0; b < 4; ++b)
    for (int64_t j = 0; j < 3 + 5 * b; ++j) {
      encs[b].input_ids.push_back(static_cast<int32_t>(5 + (11 * j + 3 * b) % 50));
      encs[b].token_type_ids.push_back(j > 4 ? 1 : 0);
    }
  std::vector<const Encoding*> ptrs;
  for (auto& e : encs) ptrs.push_back(&e);
  return make_token_batch(ptrs);
}

TEST(Encoder, ClsOnlyLastLayerEqualsFullPassClsRows) {
  auto bb = testing::tiny_backbone();
  TaskParams p = TaskParams::create(*bb, Method::houlsby, AdapterSpec{}, 2, 3);
  auto big = p.snapshot();  // make the adapters matter
  for (auto& [name, t] : big)
    if (name.find("adapter_") != std::string::npos) t.normal_(0, 0.3);
  p.restore(big);
  std::vector<Encoding> encs;
  TokenBatch batch = ragged_batch(encs);
  torch::NoGradGuard no_grad;
  at::Tensor full = encode(*bb, &p, batch, ForwardOptions{}).index_select(0, batch.first_token);
  at::Tensor cls = encode_cls(*bb, &p, batch, ForwardOptions{});
  EXPECT_EQ(cls.sizes(), full.sizes());
  EXPECT_LT((cls - full).abs().max().item<double>(), 1e-5);
  EXPECT_GT(full.abs().max().item<double>(), 0.1);
}

TEST(Encoder, PackedPaddedBatchEqualsSequencesAlone) {
  auto bb = testing::tiny_backbone();
  std::vector<Encoding> encs;
  TokenBatch batch = ragged_batch(encs);
  torch::NoGradGuard no_grad;
  at::Tensor together = encode(*bb, nullptr, batch, ForwardOptions{});
  for (size_t b = 0; b < encs.size(); ++b) {
    TokenBatch alone = make_token_batch({&encs[b]});
    at::Tensor single = encode(*bb, nullptr, alone, ForwardOptions{});
    at::Tensor rows = together.narrow(0, batch.first_token[b].item<int64_t>(), single.size(0));
    EXPECT_LT((rows - single).abs().max().item<double>(), 1e-5) << "sequence " << b;
  }
}

TEST(FastDropout, KeepsTheRightShareScalesAndIsReproducible) {
  at::Tensor x = at::ones({1000, 100});
  torch::manual_seed(5);
  at::Tensor a = fast_dropout(x, 0.1);
  torch::manual_seed(5);
  at::Tensor b = fast_dropout(x, 0.1);
  at::Tensor c = fast_dropout(x, 0.1);
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(a.equal(c));
  const double kept = (a > 0).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.9, 0.005);
  EXPECT_NEAR(a.max().item<double>(), 1.0 / 0.9, 1e-6);
  EXPECT_NEAR(a.mean().item<double>(), 1.0, 0.01);
  // Gradient flows through the kept elements only.
  at::Tensor y = at::ones({10, 10}).requires_grad_();
  at::Tensor out = fast_dropout(y, 0.5);
  out.sum().backward();
  EXPECT_TRUE(y.grad().equal(out.detach()));
}

}  // namespace
}  // namespace trellis
