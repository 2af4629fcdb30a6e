#pragma once
// Length-bucketed batch plans for dynamic padding: batches of examples of similar length waste
// little padding (PERFORMANCE.md: ~2x over random batches). A plan is a list of batches of
// example indices; it is a pure function of (lengths, options, seed, epoch), identical on every
// platform (rng.h), so every rank of a worker group computes the same plan on its own.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace trellis {

struct BatchPlanOptions {
  size_t batch_size = 32;      // examples per batch; > 0
  size_t bucket_batches = 50;  // with shuffle: sort by length inside chunks of batch_size * bucket_batches; > 0
  bool shuffle = true;         // false (evaluation): one global sort by length, no randomness
  bool drop_last = false;      // drop the final batch if it is smaller than batch_size
};

// With shuffle: permute all indices (seeded by derive_seed(seed, epoch)), cut the permutation into
// chunks of batch_size * bucket_batches, stable-sort each chunk by length (longest first), cut the
// chunks into batches, then shuffle the order of the batches. Only the very last batch cut can be
// short (it holds the shortest examples of the last chunk).
// Without shuffle: stable sort of all indices by length (longest first, ties by index), cut.
// Every index appears exactly once per plan, except those of a dropped short last batch.
// An empty `lengths` gives an empty plan. Throws trellis::Error if batch_size or bucket_batches is 0.
std::vector<std::vector<size_t>> plan_batches(const std::vector<size_t>& lengths, const BatchPlanOptions& options,
                                              uint64_t seed, uint64_t epoch);

}  // namespace trellis
