#pragma once
// Inverted dropout with a counter-based mask: element i of a call is kept iff
// hash(seed, i) >= p * 2^32, where `seed` is drawn from LibTorch's default CPU generator (so
// torch::manual_seed makes it reproducible) and the hash is SplitMix64. The mask is generated in
// parallel and does not depend on the thread count. Stock at::dropout's Bernoulli sampling ran
// single-threaded and cost ~10% of an adapter training step here (bench/README.md).
// CPU only: on any other device (CUDA) it falls back to stock at::dropout, whose mask comes from
// that device's generator (so CPU and CUDA runs draw different masks).
#include <ATen/core/Tensor.h>

namespace trellis {

// Returns x * mask / (1 - p); differentiable in x. p in [0, 1). Non-CPU x: at::dropout(x, p, true).
at::Tensor fast_dropout(const at::Tensor& x, double p);

}  // namespace trellis
