#include "trainer/train/encoded_dataset.h"

namespace trellis {

std::vector<size_t> EncodedDataset::lengths() const {
  std::vector<size_t> out;
  out.reserve(encodings.size());
  for (const auto& e : encodings) out.push_back(e.input_ids.size());
  return out;
}

EncodedDataset encode_examples(const BertTokenizer& tokenizer, const std::vector<RawExample>& examples,
                               TaskType task_type, const LabelSet* labels, int64_t max_seq_len,
                               const std::string& origin) {
  EncodedDataset out;
  out.task_type = task_type;
  // Labels first: an unknown one is reported before any tokenising.
  const bool classified = task_type == TaskType::classification && labels;
  if (classified) out.labels = encode_labels(examples, *labels, origin);
  else out.labels.assign(examples.size(), -1);
  out.encodings.reserve(examples.size());
  out.targets.reserve(examples.size());
  for (const RawExample& ex : examples) {
    std::optional<std::string_view> pair;
    if (ex.text_pair) pair = *ex.text_pair;
    out.encodings.push_back(tokenizer.encode(ex.text, pair, static_cast<size_t>(max_seq_len)));
    out.targets.push_back(ex.target);
  }
  return out;
}

}  // namespace trellis
