// Adapter shapes and counts, trainable sets per method, near-identity initialisation.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/unit/trainer/test_support.h"
#include "trainer/model/encoder.h"
#include "trainer/model/task_params.h"

namespace trellis {
namespace {

TEST(TaskParams, EveryAdapterHasTwoMdPlusDPlusMParameters) {
  auto bb = testing::tiny_backbone();
  const int64_t d = bb->config().hidden_size;
  for (int64_t m : {1, 8, 64}) {
    AdapterSpec a;
    a.bottleneck = m;
    TaskParams p = TaskParams::create(*bb, Method::houlsby, a, 3, 1);
    int64_t adapters = 0, adapter_params = 0, layer_norm = 0, head = 0;
    for (int64_t i = 0; i < bb->config().num_hidden_layers; ++i)
      for (bool att : {true, false}) {
        int64_t n = 0;
        for (const char* s : {"adapter_down.weight", "adapter_down.bias", "adapter_up.weight", "adapter_up.bias"})
          n += p.find(adapter_prefix(i, att) + s)->numel();
        EXPECT_EQ(n, 2 * m * d + d + m);
        EXPECT_EQ(n, adapter_parameter_count(d, m));
        ++adapters;
        adapter_params += n;
      }
    for (const auto& [name, t] : p.tensors()) {
      if (is_layer_norm_tensor(name)) layer_norm += t.numel();
      if (name.starts_with("classifier.")) head += t.numel();
    }
    EXPECT_EQ(adapters, 2 * bb->config().num_hidden_layers);
    EXPECT_EQ(layer_norm, 2 * d * (1 + 2 * bb->config().num_hidden_layers));
    EXPECT_EQ(head, 3 * d + 3);
    EXPECT_EQ(p.num_parameters(), adapter_params + layer_norm + head);
  }
}

TEST(TaskParams, MethodsDifferOnlyInTheirTrainableSets) {
  auto bb = testing::tiny_backbone();
  TaskParams head = TaskParams::create(*bb, Method::head, AdapterSpec{}, 2, 1);
  EXPECT_EQ(head.tensors().size(), 2u);
  EXPECT_EQ(head.num_parameters(), 2 * bb->config().hidden_size + 2);
  TaskParams full = TaskParams::create(*bb, Method::full, AdapterSpec{}, 2, 1);
  EXPECT_EQ(full.num_parameters(), bb->num_parameters() + head.num_parameters());
  for (const auto& [name, t] : full.tensors()) {
    EXPECT_TRUE(t.requires_grad()) << name;
    if (!name.starts_with("classifier.")) {
      EXPECT_NE(t.data_ptr(), bb->weight(name).data_ptr()) << "full must copy " << name;
    }
  }
  for (const auto& [name, t] : bb->weights()) EXPECT_FALSE(t.requires_grad()) << name;
}

TEST(TaskParams, SameSeedSameInitDifferentSeedDifferent) {
  auto bb = testing::tiny_backbone();
  TaskParams a = TaskParams::create(*bb, Method::houlsby, AdapterSpec{}, 2, 5);
  TaskParams b = TaskParams::create(*bb, Method::houlsby, AdapterSpec{}, 2, 5);
  TaskParams c = TaskParams::create(*bb, Method::houlsby, AdapterSpec{}, 2, 6);
  const std::string w = adapter_prefix(0, true) + "adapter_down.weight";
  EXPECT_TRUE(a.find(w)->equal(*b.find(w)));
  EXPECT_FALSE(a.find(w)->equal(*c.find(w)));
  // Truncated normal within 2 std.
  AdapterSpec spec;
  EXPECT_LE(a.find(w)->abs().max().item<double>(), 2 * spec.init_std + 1e-12);
  EXPECT_GT(a.find(w)->abs().max().item<double>(), 0.0);
}

// With fresh adapters the encoder computes (almost) the backbone's function.
void expect_near_identity(const Backbone& bb) {
  TaskParams p = TaskParams::create(bb, Method::houlsby, AdapterSpec{}, 2, 3);
  std::vector<Encoding> encs(3);
  for (int64_t b = 0; b < 3; ++b)
    for (int64_t j = 0; j < 5 + 4 * b; ++j) {
      encs[b].input_ids.push_back(static_cast<int32_t>(5 + (7 * j + b) % 40));
      encs[b].token_type_ids.push_back(0);
    }
  std::vector<const Encoding*> ptrs{&encs[0], &encs[1], &encs[2]};
  TokenBatch batch = make_token_batch(ptrs);
  torch::NoGradGuard no_grad;
  at::Tensor plain = encode(bb, nullptr, batch, ForwardOptions{});
  at::Tensor adapted = encode(bb, &p, batch, ForwardOptions{});
  const double rel = ((adapted - plain).norm() / plain.norm()).item<double>();
  EXPECT_LT(rel, 1e-3);
  EXPECT_GT(rel, 0.0) << "adapters must be active";
  // And adapters scaled up by 1000x visibly change the function (the test can fail).
  auto big = p.snapshot();
  for (auto& [name, t] : big)
    if (name.find("adapter_") != std::string::npos) t.mul_(1000);
  p.restore(big);
  at::Tensor changed = encode(bb, &p, batch, ForwardOptions{});
  EXPECT_GT(((changed - plain).norm() / plain.norm()).item<double>(), 1e-2);
}

TEST(TaskParams, FreshAdaptersAreNearIdentityOnTinyBackbone) { expect_near_identity(*testing::tiny_backbone()); }

TEST(TaskParams, FreshAdaptersAreNearIdentityOnRealBackbone) {
  const auto dir = testing::real_backbone_dir();
  if (!std::filesystem::exists(dir / "model.safetensors")) GTEST_SKIP() << dir << " missing (run cluster/setup.sh)";
  expect_near_identity(*Backbone::load(testing::real_backbone_descriptor()));
}

}  // namespace
}  // namespace trellis
