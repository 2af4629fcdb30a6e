#pragma once
// Examples tokenised once, ready to batch: encodings plus class indices or regression targets.
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/spec/job_spec.h"
#include "trainer/text/bert_tokenizer.h"

namespace trellis {

struct EncodedDataset {
  TaskType task_type = TaskType::classification;
  std::vector<Encoding> encodings;
  std::vector<int64_t> labels;  // classification: index into the LabelSet; -1 when unlabelled
  std::vector<double> targets;  // regression targets
  std::vector<size_t> lengths() const;
  size_t size() const { return encodings.size(); }
};

// Tokenises `examples` (text, optional pair) to at most max_seq_len tokens. With `labels` set,
// classification labels are mapped to indices; an unseen label is an error naming `origin` and
// the example's line. Without labels (prediction), labels are -1.
EncodedDataset encode_examples(const BertTokenizer& tokenizer, const std::vector<RawExample>& examples,
                               TaskType task_type, const LabelSet* labels, int64_t max_seq_len,
                               const std::string& origin);

}  // namespace trellis
