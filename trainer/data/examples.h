#pragma once
// Labelled text examples read from a table (JSONL, CSV or TSV; see table_reader.h) for a task.
// Free functions; no shared state.
//
// Field rules (each violation throws trellis::Error "<file>:<line>: field '<name>' ..."):
//  - text (and text_pair when configured): required, must be a string; empty strings are allowed.
//  - label, classification: a non-empty string, an integer (kept as its decimal string: 1 -> "1"),
//    a floating JSON number with an integral value (1.0 -> "1"), or a boolean ("true"/"false").
//    CSV/TSV cells are taken verbatim ("1.0" stays "1.0").
//  - label, regression: a finite number, or a string holding one (CSV/TSV cells, JSON strings);
//    surrounding spaces are ignored.
//  - require_label=false (prediction input): a missing, null or empty label is allowed
//    (has_label=false); a label that is present is still checked.
//  - A table without any record is an error ("<file>: no examples").
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "trainer/data/table_reader.h"
#include "trainer/spec/job_spec.h"

namespace trellis {

struct FieldNames {
  std::string text = "text";
  std::optional<std::string> text_pair;  // absent: single-text task
  std::string label = "label";
};

// FieldNames from a spec's data section.
FieldNames field_names_of(const DataSpec& data);

struct RawExample {
  std::string text;
  std::optional<std::string> text_pair;  // set iff FieldNames::text_pair is
  std::string label;                     // classification label; empty for regression
  double target = 0;                     // regression target
  bool has_label = false;                // false only for unlabelled prediction input
  size_t line = 0;                       // 1-based line of the record in its file
};

// Reads and validates examples; messages name the file as `options.display_name` or the path.
std::vector<RawExample> read_examples(const std::filesystem::path& path, const FieldNames& names, TaskType type,
                                      bool require_label = true, const TableReadOptions& options = {});

// The same over a table already read.
std::vector<RawExample> examples_from_table(Table table, const FieldNames& names, TaskType type,
                                            bool require_label = true);

}  // namespace trellis
