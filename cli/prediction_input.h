#pragma once
// Reads prediction inputs: JSONL objects carrying the task's text field(s), or plain text lines.
// Reads in chunks so that large inputs (stdin pipes) stream. Not thread-safe.
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"

namespace trellis {

enum class InputFormat { auto_detect, jsonl, lines };
InputFormat parse_input_format(const std::string& name);

class PredictionInput {
 public:
  // `origin` names the source in errors ("<stdin>" or the file); `fields` come from the artifact.
  PredictionInput(std::istream& in, std::string origin, FieldNames fields, InputFormat format);
  // Up to `max_examples` more examples; empty at the end. In lines format (or auto, for a line
  // that is not a JSON object), each line is one text; a final newline ends the last line.
  // Throws trellis::Error naming origin and line for a bad JSON line or a missing/invalid field.
  std::vector<RawExample> next_chunk(size_t max_examples);

 private:
  std::istream& in_;
  std::string origin_;
  FieldNames fields_;
  InputFormat format_;
  size_t line_ = 0;
};

}  // namespace trellis
