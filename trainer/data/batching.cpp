#include "trainer/data/batching.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "trainer/data/rng.h"
#include "common/error.h"

namespace trellis {
namespace {

void sort_longest_first(std::vector<size_t>::iterator begin, std::vector<size_t>::iterator end,
                        const std::vector<size_t>& lengths) {
  std::stable_sort(begin, end, [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
}

std::vector<std::vector<size_t>> cut(const std::vector<size_t>& order, size_t batch_size, bool drop_last) {
  std::vector<std::vector<size_t>> batches;
  batches.reserve(order.size() / batch_size + 1);
  for (size_t i = 0; i < order.size(); i += batch_size) {
    const size_t end = std::min(order.size(), i + batch_size);
    if (drop_last && end - i < batch_size) break;
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(i),
                         order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

}  // namespace

std::vector<std::vector<size_t>> plan_batches(const std::vector<size_t>& lengths, const BatchPlanOptions& options,
                                              uint64_t seed, uint64_t epoch) {
  if (options.batch_size == 0) throw Error("batch plan: batch_size must be > 0");
  if (options.bucket_batches == 0) throw Error("batch plan: bucket_batches must be > 0");

  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (!options.shuffle) {
    sort_longest_first(order.begin(), order.end(), lengths);
    return cut(order, options.batch_size, options.drop_last);
  }

  std::mt19937_64 rng(derive_seed(seed, epoch));
  deterministic_shuffle(order, rng);
  const size_t chunk = options.bucket_batches > std::numeric_limits<size_t>::max() / options.batch_size
                           ? order.size()
                           : options.batch_size * options.bucket_batches;
  for (size_t i = 0; i < order.size(); i += chunk) {
    const size_t end = std::min(order.size(), i + chunk);
    sort_longest_first(order.begin() + static_cast<std::ptrdiff_t>(i), order.begin() + static_cast<std::ptrdiff_t>(end),
                       lengths);
  }
  auto batches = cut(order, options.batch_size, options.drop_last);
  deterministic_shuffle(batches, rng);
  return batches;
}

}  // namespace trellis
