#pragma once
// The classes of a classification task: an ordered list of label names; a label's index is its
// position (the head's output row). Immutable after construction; safe to share between threads.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trainer/data/examples.h"

namespace trellis {

class LabelSet {
 public:
  // The distinct labels of the labelled examples, in a deterministic order: numerically if every
  // label is a decimal integer ("-1" < "2" < "10"; ties like "1"/"01" by bytes), otherwise
  // lexicographically by bytes. Throws trellis::Error if no example has a label.
  static LabelSet from_examples(const std::vector<RawExample>& examples);

  // Keeps the given order (e.g. read back from an artifact). Names must be unique; the list must
  // not be empty. Throws trellis::Error otherwise.
  explicit LabelSet(std::vector<std::string> names);

  // The label's index; throws trellis::Error "label 'x' does not occur in the training data
  // (labels: a, b)" if unknown.
  int64_t index_of(const std::string& label) const;
  std::optional<int64_t> find(const std::string& label) const;
  const std::string& name(int64_t index) const { return names_.at(static_cast<size_t>(index)); }
  const std::vector<std::string>& names() const { return names_; }
  size_t size() const { return names_.size(); }

  // "neg, pos" (at most the first 20 names, then "... (N labels)"), for messages.
  std::string describe() const;

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int64_t> index_;
};

// The label index of every example. Every example must have a label known to `labels`, otherwise
// throws trellis::Error "<source>:<line>: label 'maybe' does not occur in the training data
// (labels: neg, pos)" (or "<source>:<line>: the label is missing").
std::vector<int64_t> encode_labels(const std::vector<RawExample>& examples, const LabelSet& labels,
                                   const std::string& source);

// Only the check of encode_labels (e.g. on a validation file before training starts).
void check_labels_known(const std::vector<RawExample>& examples, const LabelSet& labels, const std::string& source);

}  // namespace trellis
