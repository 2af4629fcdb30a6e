#pragma once
// Inverted dropout with a counter-based mask: element i of a call is kept iff
// hash(seed, i) >= p * 2^32, where `seed` is drawn from LibTorch's default CPU generator (so
// torch::manual_seed makes it reproducible) and the hash is SplitMix64. The mask is generated in
// parallel and does not depend on the thread count. Stock at::dropout's Bernoulli sampling ran
// single-threaded and cost ~10% of an adapter training step here (bench/README.md).
#include <ATen/core/Tensor.h>

namespace trellis {

// Returns x * mask / (1 - p); differentiable in x. p in [0, 1).
at::Tensor fast_dropout(const at::Tensor& x, double p);

}  // namespace trellis
