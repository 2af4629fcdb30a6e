#include "trainer/data/label_set.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "common/error.h"

namespace trellis {
namespace {

std::optional<int64_t> as_decimal_integer(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);  // "-12" ok; "+1", " 1", "" not
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

LabelSet LabelSet::from_examples(const std::vector<RawExample>& examples) {
  std::set<std::string> distinct;  // byte order (char_traits<char> compares as unsigned char)
  for (const auto& ex : examples)
    if (ex.has_label) distinct.insert(ex.label);
  if (distinct.empty()) throw Error("no labelled examples: cannot build the label set");

  std::vector<std::string> names(distinct.begin(), distinct.end());
  std::vector<std::pair<int64_t, std::string>> numeric;
  numeric.reserve(names.size());
  for (const auto& n : names) {
    auto v = as_decimal_integer(n);
    if (!v) return LabelSet(std::move(names));
    numeric.emplace_back(*v, n);
  }
  std::sort(numeric.begin(), numeric.end());
  for (size_t i = 0; i < names.size(); ++i) names[i] = std::move(numeric[i].second);
  return LabelSet(std::move(names));
}

LabelSet::LabelSet(std::vector<std::string> names) : names_(std::move(names)) {
  if (names_.empty()) throw Error("a label set needs at least one label");
  index_.reserve(names_.size());
  for (size_t i = 0; i < names_.size(); ++i)
    if (!index_.emplace(names_[i], static_cast<int64_t>(i)).second)
      throw Error("label '" + names_[i] + "' appears more than once in the label set");
}

std::optional<int64_t> LabelSet::find(const std::string& label) const {
  auto it = index_.find(label);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

int64_t LabelSet::index_of(const std::string& label) const {
  if (auto i = find(label)) return *i;
  throw Error("label '" + label + "' does not occur in the training data (labels: " + describe() + ")");
}

std::string LabelSet::describe() const {
  constexpr size_t kMax = 20;
  std::string out;
  for (size_t i = 0; i < names_.size() && i < kMax; ++i) out += (i ? ", " : "") + names_[i];
  if (names_.size() > kMax) out += ", ... (" + std::to_string(names_.size()) + " labels)";
  return out;
}

std::vector<int64_t> encode_labels(const std::vector<RawExample>& examples, const LabelSet& labels,
                                   const std::string& source) {
  std::vector<int64_t> out;
  out.reserve(examples.size());
  for (const auto& ex : examples) {
    auto where = [&] { return source + ":" + std::to_string(ex.line) + ": "; };
    if (!ex.has_label) throw Error(where() + "the label is missing");
    auto i = labels.find(ex.label);
    if (!i)
      throw Error(where() + "label '" + ex.label +
                  "' does not occur in the training data (labels: " + labels.describe() + ")");
    out.push_back(*i);
  }
  return out;
}

void check_labels_known(const std::vector<RawExample>& examples, const LabelSet& labels, const std::string& source) {
  (void)encode_labels(examples, labels, source);
}

}  // namespace trellis
