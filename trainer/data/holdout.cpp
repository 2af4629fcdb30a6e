#include "trainer/data/holdout.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <string>

#include "trainer/data/rng.h"
#include "common/error.h"

namespace trellis {
namespace {

std::string format_fraction(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc{} ? std::string(buf, end) : std::string("?");
}

// Marks the holdout members, stratified by label.
std::vector<bool> choose_stratified(const std::vector<RawExample>& examples, double fraction, size_t wanted,
                                    std::mt19937_64& rng) {
  std::map<std::string, std::vector<size_t>> by_label;  // byte order: deterministic
  for (size_t i = 0; i < examples.size(); ++i) by_label[examples[i].label].push_back(i);

  struct Group {
    std::vector<size_t>* members;
    size_t quota;
    size_t cap;
    double remainder;
    size_t order;
  };
  std::vector<Group> groups;
  size_t total = 0;
  for (auto& [label, members] : by_label) {
    const double exact = fraction * static_cast<double>(members.size());
    const size_t cap = members.size() - 1;  // keep one example of every label for training
    const size_t quota = std::min(static_cast<size_t>(std::floor(exact + 1e-9)), cap);
    groups.push_back({&members, quota, cap, exact - static_cast<double>(quota), groups.size()});
    total += quota;
  }
  // Largest remainder first (ties: label order), then round-robin while capacity is left.
  std::vector<Group*> order;
  for (auto& g : groups) order.push_back(&g);
  std::stable_sort(order.begin(), order.end(),
                   [](const Group* a, const Group* b) { return a->remainder > b->remainder; });
  for (bool progress = true; total < wanted && progress;) {
    progress = false;
    for (Group* g : order) {
      if (total == wanted) break;
      if (g->quota < g->cap) {
        ++g->quota;
        ++total;
        progress = true;
      }
    }
  }

  std::vector<bool> held(examples.size(), false);
  for (auto& g : groups) {
    deterministic_shuffle(*g.members, rng);
    for (size_t k = 0; k < g.quota; ++k) held[(*g.members)[k]] = true;
  }
  return held;
}

}  // namespace

std::pair<std::vector<RawExample>, std::vector<RawExample>> split_holdout(std::vector<RawExample> examples,
                                                                          double fraction, uint64_t seed,
                                                                          bool stratify) {
  if (!(fraction > 0 && fraction < 1))
    throw Error("the validation fraction must be in (0, 1), got " + format_fraction(fraction));
  const size_t n = examples.size();
  const auto wanted = static_cast<size_t>(std::ceil(fraction * static_cast<double>(n) - 1e-9));
  const auto explain = [&] {
    return "cannot hold out " + format_fraction(fraction) + " of " + std::to_string(n) + " example(s) for validation: ";
  };
  if (wanted == 0 || wanted >= n)
    throw Error(explain() + "both the training and the validation part need at least one example");

  std::mt19937_64 rng(seed);
  std::vector<bool> held;
  if (stratify) {
    held = choose_stratified(examples, fraction, wanted, rng);
    if (std::find(held.begin(), held.end(), true) == held.end())
      throw Error(explain() + "every label has a single example, so none can be held out (stratified)");
  } else {
    std::vector<size_t> perm(n);
    std::iota(perm.begin(), perm.end(), size_t{0});
    deterministic_shuffle(perm, rng);
    held.assign(n, false);
    for (size_t k = 0; k < wanted; ++k) held[perm[k]] = true;
  }

  std::pair<std::vector<RawExample>, std::vector<RawExample>> out;
  for (size_t i = 0; i < n; ++i) (held[i] ? out.second : out.first).push_back(std::move(examples[i]));
  return out;
}

}  // namespace trellis
