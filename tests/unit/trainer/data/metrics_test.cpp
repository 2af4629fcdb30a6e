// Tests for trainer/data/metrics against reference values.
//
// Reference values were computed with scikit-learn 1.9.1 and scipy 1.17.1 (Python 3.11) in a
// scratch virtual environment:
//   from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
//   from scipy.stats import pearsonr, spearmanr, rankdata
//   accuracy_score(g, p), f1_score(g, p, average="macro"), matthews_corrcoef(g, p)
//   np.mean((p - g) ** 2), pearsonr(p, g)[0], spearmanr(p, g)[0], rankdata(x)
// printed with "%.17g", on the inputs written out below.
#include "trainer/data/metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace trellis {
namespace {

constexpr double kTol = 1e-12;

void expect_classification(const std::vector<int64_t>& pred, const std::vector<int64_t>& gold, size_t k,
                           double accuracy, double macro_f1, double mcc) {
  const auto m = classification_metrics(pred, gold, k);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_NEAR(m.at("accuracy"), accuracy, kTol);
  EXPECT_NEAR(m.at("macro_f1"), macro_f1, kTol);
  EXPECT_NEAR(m.at("mcc"), mcc, kTol);
}

TEST(ClassificationMetrics, Multiclass) {
  expect_classification({0, 2, 1, 0, 0, 2, 0, 1, 2, 1}, {0, 1, 2, 0, 1, 2, 0, 1, 2, 2}, 3, 0.59999999999999998,
                        0.58730158730158732, 0.40909090909090912);
}

TEST(ClassificationMetrics, Binary) {
  expect_classification({1, 0, 0, 1, 1, 0, 1, 1}, {1, 1, 0, 0, 1, 0, 1, 1}, 2, 0.75, 0.73333333333333339,
                        0.46666666666666667);
}

TEST(ClassificationMetrics, ClassesAbsentFromGoldOrPredictions) {
  // Class 2 is predicted but never true (F1 0, counted); class 3 is in the label set but occurs
  // nowhere (left out of the macro average, as scikit-learn does without labels=).
  expect_classification({0, 2, 1, 1, 0}, {0, 0, 1, 1, 1}, 4, 0.59999999999999998, 0.43333333333333335,
                        0.36084391824351614);
}

TEST(ClassificationMetrics, ConstantPredictionsGiveZeroMcc) {
  expect_classification({0, 0, 0, 0}, {0, 1, 0, 1}, 2, 0.5, 0.33333333333333331, 0.0);
  // All correct, a single class: MCC undefined (0, as scikit-learn), F1 1.
  expect_classification({1, 1, 1}, {1, 1, 1}, 3, 1.0, 1.0, 0.0);
}

TEST(ClassificationMetrics, LargerGeneratedCase) {
  // gold[i] = (31 i^2 + 7 i) % 5; pred[i] = gold[i] if i % 3 == 0 else (13 i + 1) % 5; i < 200.
  std::vector<int64_t> gold, pred;
  for (int64_t i = 0; i < 200; ++i) {
    gold.push_back((i * i * 31 + 7 * i) % 5);
    pred.push_back(i % 3 == 0 ? gold.back() : (i * 13 + 1) % 5);
  }
  expect_classification(pred, gold, 5, 0.46500000000000002, 0.30438951857255075, 0.29830361977065634);
}

TEST(ClassificationMetrics, Errors) {
  EXPECT_THROW(classification_metrics({0, 1}, {0}, 2), Error);
  EXPECT_THROW(classification_metrics({}, {}, 2), Error);
  EXPECT_THROW(classification_metrics({0, 2}, {0, 1}, 2), Error);
  EXPECT_THROW(classification_metrics({0, 1}, {-1, 1}, 2), Error);
}

void expect_regression(const std::vector<double>& pred, const std::vector<double>& gold, double mse, double pearson,
                       double spearman) {
  const auto m = regression_metrics(pred, gold);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_NEAR(m.at("mse"), mse, kTol);
  EXPECT_NEAR(m.at("pearson"), pearson, kTol);
  EXPECT_NEAR(m.at("spearman"), spearman, kTol);
}

TEST(RegressionMetrics, Basic) {
  expect_regression({2.5, 0.0, 2.1, 1.6, 3.0, 1.0}, {3.0, -0.5, 2.0, 1.5, 2.8, 0.9}, 0.095000000000000015,
                    0.97924285646753184, 0.94285714285714295);
}

TEST(RegressionMetrics, TiesUseAverageRanks) {
  expect_regression({1, 2, 2, 3, 3, 3, 4}, {1, 3, 2, 2, 5, 4, 4}, 1.0, 0.72456883730947208, 0.71457743809378682);
  // scipy.stats.rankdata([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])
  EXPECT_EQ(average_ranks({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5}),
            (std::vector<double>{4.5, 1.5, 6, 1.5, 8, 11, 3, 10, 8, 4.5, 8}));
}

TEST(RegressionMetrics, LargerGeneratedCase) {
  // gold[i] = 3 sin(0.37 i); pred[i] = gold[i] + cos(1.3 i); i < 100.
  std::vector<double> gold, pred;
  for (int i = 0; i < 100; ++i) {
    gold.push_back(std::sin(i * 0.37) * 3);
    pred.push_back(gold.back() + std::cos(i * 1.3));
  }
  const auto m = regression_metrics(pred, gold);
  // libm may differ from numpy's in the last bit of sin/cos: a looser tolerance here.
  EXPECT_NEAR(m.at("mse"), 0.50479968047315793, 1e-9);
  EXPECT_NEAR(m.at("pearson"), 0.94860487804148164, 1e-9);
  EXPECT_NEAR(m.at("spearman"), 0.9351335133513351, 1e-9);
}

TEST(RegressionMetrics, ConstantInputGivesZeroCorrelation) {
  // scipy returns nan (with a warning) here; we return 0.
  expect_regression({1, 1, 1, 1}, {1, 2, 3, 4}, 3.5, 0.0, 0.0);
  expect_regression({0.1, 0.2, 0.3}, {0.1, 0.1, 0.1}, (0.01 + 0.04) / 3, 0.0, 0.0);
  expect_regression({5}, {4}, 1.0, 0.0, 0.0);
  EXPECT_EQ(pearson({0.1, 0.1, 0.1}, {1, 2, 3}), 0.0);  // mean != 0.1 exactly; still constant
}

TEST(RegressionMetrics, PerfectAndInverse) {
  expect_regression({1, 2, 3}, {2, 4, 6}, (1 + 4 + 9) / 3.0, 1.0, 1.0);
  expect_regression({3, 2, 1}, {10, 20, 30}, (49 + 324 + 841) / 3.0, -1.0, -1.0);
}

TEST(RegressionMetrics, NonFinitePredictionsGiveNan) {
  const auto m = regression_metrics({1, NAN, 3}, {1, 2, 3});
  EXPECT_TRUE(std::isnan(m.at("mse")));
  EXPECT_TRUE(std::isnan(m.at("pearson")));
  EXPECT_TRUE(std::isnan(m.at("spearman")));
  EXPECT_TRUE(std::isnan(regression_metrics({INFINITY, 1}, {1, 2}).at("mse")));
}

TEST(RegressionMetrics, Errors) {
  EXPECT_THROW(regression_metrics({1, 2}, {1}), Error);
  EXPECT_THROW(regression_metrics({}, {}), Error);
  EXPECT_THROW(regression_metrics({1, 2}, {1, NAN}), Error);
}

}  // namespace
}  // namespace trellis
