#pragma once
// A batch of tokenised examples in packed form: only real tokens are stored ([T] rows, no
// padding). The attention core alone works on the padded [B, L] layout; `pad_index` maps each
// packed row to its row in that layout. Built once per batch; immutable; plain tensors, on CPU
// as make_token_batch builds them; to() copies a batch to another device.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "trainer/text/bert_tokenizer.h"

namespace trellis {

struct TokenBatch {
  int64_t batch_size = 0;
  int64_t max_len = 0;           // L: the longest sequence of this batch (dynamic padding)
  int64_t num_tokens = 0;        // T
  at::Tensor input_ids;          // [T] int64
  at::Tensor token_type_ids;     // [T] int64
  at::Tensor position_ids;       // [T] int64
  at::Tensor pad_index;          // [T] int64, row in the [B*L] padded layout
  at::Tensor first_token;        // [B] int64, packed row of each sequence's [CLS]
  at::Tensor attention_mask;     // [B, 1, 1, L] bool, true where a key is a real token
  bool all_same_length = false;  // then pad_index is the identity and no scatter is needed

  // A copy with every tensor on `device` (this batch when already there). non_blocking copies
  // overlap the host only when the source tensors are in pinned memory.
  TokenBatch to(const at::Device& device, bool non_blocking = false) const;
};

// Packs encodings (each non-empty). Throws trellis::Error on an empty list or sequence.
TokenBatch make_token_batch(const std::vector<const Encoding*>& encodings);

}  // namespace trellis
