#include "trainer/model/token_batch.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "common/error.h"

namespace trellis {

TokenBatch make_token_batch(const std::vector<const Encoding*>& encodings) {
  if (encodings.empty()) throw Error("cannot build an empty batch");
  TokenBatch b;
  b.batch_size = static_cast<int64_t>(encodings.size());
  int64_t total = 0, max_len = 0;
  for (const Encoding* e : encodings) {
    const int64_t n = static_cast<int64_t>(e->input_ids.size());
    if (n == 0) throw Error("cannot batch an empty token sequence");
    total += n;
    max_len = std::max(max_len, n);
  }
  b.max_len = max_len;
  b.num_tokens = total;
  const auto i64 = at::TensorOptions().dtype(at::kLong);
  b.input_ids = at::empty({total}, i64);
  b.token_type_ids = at::empty({total}, i64);
  b.position_ids = at::empty({total}, i64);
  b.pad_index = at::empty({total}, i64);
  b.first_token = at::empty({b.batch_size}, i64);
  b.attention_mask = at::zeros({b.batch_size, 1, 1, max_len}, at::TensorOptions().dtype(at::kBool));
  int64_t* ids = b.input_ids.data_ptr<int64_t>();
  int64_t* types = b.token_type_ids.data_ptr<int64_t>();
  int64_t* pos = b.position_ids.data_ptr<int64_t>();
  int64_t* pad = b.pad_index.data_ptr<int64_t>();
  int64_t* first = b.first_token.data_ptr<int64_t>();
  bool* mask = b.attention_mask.data_ptr<bool>();
  int64_t row = 0;
  b.all_same_length = true;
  for (int64_t s = 0; s < b.batch_size; ++s) {
    const Encoding& e = *encodings[s];
    const int64_t n = static_cast<int64_t>(e.input_ids.size());
    if (n != max_len) b.all_same_length = false;
    first[s] = row;
    for (int64_t j = 0; j < n; ++j, ++row) {
      ids[row] = e.input_ids[j];
      types[row] = j < static_cast<int64_t>(e.token_type_ids.size()) ? e.token_type_ids[j] : 0;
      pos[row] = j;
      pad[row] = s * max_len + j;
      mask[s * max_len + j] = true;
    }
  }
  return b;
}

TokenBatch TokenBatch::to(const at::Device& device, bool non_blocking) const {
  TokenBatch b = *this;
  for (at::Tensor* t :
       {&b.input_ids, &b.token_type_ids, &b.position_ids, &b.pad_index, &b.first_token, &b.attention_mask})
    *t = t->to(device, non_blocking);
  return b;
}

}  // namespace trellis
