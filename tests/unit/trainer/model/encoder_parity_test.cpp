// The C++ encoder on the real backbone equals HF BertModel (float32) within 1e-4 on a padded batch.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/unit/trainer/test_support.h"
#include "trainer/io/safetensors.h"
#include "trainer/model/encoder.h"
#include "trainer/model/tensor_io.h"

namespace trellis {
namespace {

TEST(EncoderParity, MatchesHuggingFaceOnPaddedBatch) {
  const auto ref_path = testing::testdata_dir() / "encoder_reference.safetensors";
  const auto bb_dir = testing::real_backbone_dir();
  if (!std::filesystem::exists(ref_path) || !std::filesystem::exists(bb_dir / "model.safetensors"))
    GTEST_SKIP() << "needs " << ref_path << " and " << bb_dir
                 << " (run cluster/setup.sh and the reference_data_setup test)";
  auto backbone = Backbone::load(testing::real_backbone_descriptor());
  auto ref = SafetensorsFile::open(ref_path);
  at::Tensor ids = to_tensor(ref.get("input_ids"));
  at::Tensor types = to_tensor(ref.get("token_type_ids"));
  at::Tensor mask = to_tensor(ref.get("attention_mask"));
  at::Tensor hidden = to_tensor(ref.get("last_hidden_state"));
  std::vector<Encoding> encs(ids.size(0));
  for (int64_t b = 0; b < ids.size(0); ++b)
    for (int64_t j = 0; j < ids.size(1); ++j)
      if (mask[b][j].item<int64_t>()) {
        encs[b].input_ids.push_back(static_cast<int32_t>(ids[b][j].item<int64_t>()));
        encs[b].token_type_ids.push_back(static_cast<int32_t>(types[b][j].item<int64_t>()));
      }
  std::vector<const Encoding*> ptrs;
  for (auto& e : encs) ptrs.push_back(&e);
  TokenBatch batch = make_token_batch(ptrs);
  ASSERT_FALSE(batch.all_same_length) << "the reference batch must contain padding";
  torch::NoGradGuard no_grad;
  at::Tensor ours = encode(*backbone, nullptr, batch, ForwardOptions{});
  // HF's outputs at the real tokens, packed in the same order.
  at::Tensor theirs = hidden.view({-1, hidden.size(2)}).index_select(0, batch.pad_index);
  const double max_abs = (ours - theirs).abs().max().item<double>();
  EXPECT_LT(max_abs, 1e-4) << "max abs difference to HF BertModel";
  RecordProperty("max_abs_diff", std::to_string(max_abs));
}

}  // namespace
}  // namespace trellis
