#include "trainer/data/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace trellis {
namespace {

void check_sizes(size_t predicted, size_t gold, const char* what) {
  if (predicted != gold)
    throw Error(std::string(what) + " metrics: " + std::to_string(predicted) + " predictions for " +
                std::to_string(gold) + " gold values");
  if (gold == 0) throw Error(std::string(what) + " metrics: no examples");
}

}  // namespace

std::map<std::string, double> classification_metrics(const std::vector<int64_t>& predicted,
                                                     const std::vector<int64_t>& gold, size_t num_classes) {
  check_sizes(predicted.size(), gold.size(), "classification");
  const size_t k = num_classes;
  std::vector<double> tp(k, 0), pred_count(k, 0), true_count(k, 0);
  for (size_t i = 0; i < gold.size(); ++i) {
    const int64_t p = predicted[i], g = gold[i];
    if (p < 0 || static_cast<size_t>(p) >= k || g < 0 || static_cast<size_t>(g) >= k)
      throw Error("classification metrics: class index out of range [0, " + std::to_string(k) + ") at position " +
                  std::to_string(i));
    pred_count[static_cast<size_t>(p)] += 1;
    true_count[static_cast<size_t>(g)] += 1;
    if (p == g) tp[static_cast<size_t>(p)] += 1;
  }
  const double n = static_cast<double>(gold.size());
  const double correct = std::accumulate(tp.begin(), tp.end(), 0.0);

  double f1_sum = 0;
  size_t present = 0;
  for (size_t c = 0; c < k; ++c) {
    if (pred_count[c] == 0 && true_count[c] == 0) continue;
    ++present;
    const double fp = pred_count[c] - tp[c], fn = true_count[c] - tp[c];
    f1_sum += 2 * tp[c] / (2 * tp[c] + fp + fn);
  }

  // Gorodkin (2004) / scikit-learn's matthews_corrcoef.
  double sum_tp_pp = 0, sum_pp2 = 0, sum_tt2 = 0;
  for (size_t c = 0; c < k; ++c) {
    sum_tp_pp += true_count[c] * pred_count[c];
    sum_pp2 += pred_count[c] * pred_count[c];
    sum_tt2 += true_count[c] * true_count[c];
  }
  const double cov_ytyp = correct * n - sum_tp_pp;
  const double cov_ypyp = n * n - sum_pp2;
  const double cov_ytyt = n * n - sum_tt2;
  const double mcc = cov_ypyp * cov_ytyt == 0 ? 0.0 : cov_ytyp / std::sqrt(cov_ytyt * cov_ypyp);

  return {{"accuracy", correct / n}, {"macro_f1", present ? f1_sum / static_cast<double>(present) : 0.0}, {"mcc", mcc}};
}

std::vector<double> average_ranks(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i + 1;
    while (j < order.size() && values[order[j]] == values[order[i]]) ++j;
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // mean of i+1..j
    for (size_t t = i; t < j; ++t) ranks[order[t]] = rank;
    i = j;
  }
  return ranks;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n == 0 || y.size() != n) return 0.0;
  // Exactly constant input is undefined (0). Tested directly: the mean of equal values need not
  // equal them in floating point, which would leave a tiny non-zero spread.
  auto constant = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [&](double a) { return a == v.front(); });
  };
  if (constant(x) || constant(y)) return 0.0;
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(n);
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx == 0 || syy == 0) return 0.0;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

std::map<std::string, double> regression_metrics(const std::vector<double>& predicted,
                                                 const std::vector<double>& gold) {
  check_sizes(predicted.size(), gold.size(), "regression");
  for (size_t i = 0; i < gold.size(); ++i)
    if (!std::isfinite(gold[i]))
      throw Error("regression metrics: gold value at position " + std::to_string(i) + " is not finite");
  if (!std::all_of(predicted.begin(), predicted.end(), [](double v) { return std::isfinite(v); })) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return {{"mse", nan}, {"pearson", nan}, {"spearman", nan}};
  }
  double se = 0;
  for (size_t i = 0; i < gold.size(); ++i) se += (predicted[i] - gold[i]) * (predicted[i] - gold[i]);
  return {{"mse", se / static_cast<double>(gold.size())},
          {"pearson", pearson(predicted, gold)},
          {"spearman", pearson(average_ranks(predicted), average_ranks(gold))}};
}

}  // namespace trellis
