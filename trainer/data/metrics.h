#pragma once
// Evaluation metrics, as name -> value maps whose keys are the metric names of the job spec
// (metric_valid_for in trainer/spec/job_spec.h). Pure functions; thread-safe.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace trellis {

// Keys: accuracy, macro_f1, mcc. Matches scikit-learn's defaults:
//  - macro_f1 = f1_score(gold, predicted, average="macro"): the mean of per-class F1 =
//    2TP / (2TP + FP + FN) over the classes that occur in gold or predictions (classes of the
//    label set that occur in neither are left out, as scikit-learn does without `labels=`);
//    a class that is never predicted, or predicted but never true, has F1 0.
//  - mcc = matthews_corrcoef (Gorodkin's multiclass R_K); 0 when undefined (one class only in
//    gold or in predictions).
// Throws trellis::Error if the sizes differ, the input is empty, or an index is outside
// [0, num_classes).
std::map<std::string, double> classification_metrics(const std::vector<int64_t>& predicted,
                                                     const std::vector<int64_t>& gold, size_t num_classes);

// Keys: mse, pearson, spearman (Spearman's rho with average ranks for ties, as scipy). A
// correlation that is undefined because either side is constant is 0 (scipy gives nan).
// Non-finite predictions (a diverged model) make all three values NaN; callers treat NaN as worst.
// Throws trellis::Error if the sizes differ, the input is empty, or a gold value is not finite.
std::map<std::string, double> regression_metrics(const std::vector<double>& predicted, const std::vector<double>& gold);

// Helpers, exposed for tests and reuse. `ranks`: 1-based average ranks (ties share their mean
// rank); the values must be finite. `pearson`: 0 if either side is constant; sizes must match.
std::vector<double> average_ranks(const std::vector<double>& values);
double pearson(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace trellis
