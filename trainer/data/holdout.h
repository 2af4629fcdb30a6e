#pragma once
// Seeded holdout split of a training set into (train, validation), for jobs without a validation
// file. Deterministic on every platform: it uses only rng.h (never std::shuffle). Free function.
#include <cstdint>
#include <utility>
#include <vector>

#include "trainer/data/examples.h"

namespace trellis {

// Holds out ceil(fraction * n) examples (a 1e-9 tolerance absorbs floating rounding, so
// 0.3 of 10 is 3), chosen by a Fisher-Yates permutation seeded with `seed`. Both parts keep the
// input's order. Throws trellis::Error if fraction is not in (0, 1) or either part would be empty.
//
// stratify (classification): the holdout is drawn per label, each label contributing
// floor(fraction * count) examples, the rest distributed by largest remainder; a label never gives
// all its examples away, so every label of the input stays in the training part (and validation
// labels are always known to training). The holdout may then be smaller than ceil(fraction * n),
// but it is never empty (Error if it would be: every label has a single example).
std::pair<std::vector<RawExample>, std::vector<RawExample>> split_holdout(std::vector<RawExample> examples,
                                                                          double fraction, uint64_t seed,
                                                                          bool stratify = false);

}  // namespace trellis
