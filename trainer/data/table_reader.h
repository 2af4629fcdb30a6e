#pragma once
// Reads labelled-text tables: JSONL (one JSON object per line), CSV and TSV (header row, RFC 4180
// quoting). The reader knows nothing about tasks: it returns every record with its physical line
// and its fields as read. Free functions; no shared state, safe to call from any thread.
//
// Rules (every violation throws trellis::Error "<source>:<line>: ..."):
//  - Format from the extension, case-insensitively: .jsonl/.ndjson, .csv, .tsv/.tab; anything
//    else is an error naming the file and the accepted extensions (or pass TableReadOptions::format).
//  - A UTF-8 byte order mark at the start is skipped; LF and CRLF line ends are accepted.
//  - JSONL: each non-blank line is one JSON object; blank lines are skipped; a top-level key that
//    appears twice in one object is an error. Nested arrays and objects are kept as
//    FieldValue::Kind::array/object (an error only if a consumer needs them).
//  - CSV/TSV: the first record is the header (required; empty or duplicate names are errors);
//    quoted fields may hold delimiters, doubled quotes and line breaks; a quote inside an unquoted
//    field is literal; after a closing quote only a delimiter or a line end may follow; every
//    record must have as many fields as the header; empty lines are skipped; cells must be valid
//    UTF-8. A record's line is the physical line where it starts.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace trellis {

enum class TableFormat { jsonl, csv, tsv };

// One cell as read. CSV/TSV cells are always strings. JSON integers that fit int64 are integers;
// larger unsigned ones are stored as floating. Arrays and objects keep only their kind.
class FieldValue {
 public:
  enum class Kind { null, boolean, integer, floating, string, array, object };

  FieldValue() = default;  // null
  static FieldValue boolean(bool b) { return FieldValue(Kind::boolean, b); }
  static FieldValue integer(int64_t i) { return FieldValue(Kind::integer, i); }
  static FieldValue floating(double d) { return FieldValue(Kind::floating, d); }
  static FieldValue string(std::string s) { return FieldValue(Kind::string, std::move(s)); }
  static FieldValue array() { return FieldValue(Kind::array, std::monostate{}); }
  static FieldValue object() { return FieldValue(Kind::object, std::monostate{}); }

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_number() const { return kind_ == Kind::integer || kind_ == Kind::floating; }
  // Accessors; calling the wrong one is a programming error (std::bad_variant_access).
  bool as_bool() const { return std::get<bool>(value_); }
  int64_t as_integer() const { return std::get<int64_t>(value_); }
  double as_floating() const { return std::get<double>(value_); }
  const std::string& as_string() const { return std::get<std::string>(value_); }
  std::string& as_string() { return std::get<std::string>(value_); }
  // The number as a double (integer or floating kinds only).
  double as_number() const { return kind_ == Kind::integer ? static_cast<double>(as_integer()) : as_floating(); }

  // For messages: `"a string"` -> string "a string" (shortened), 5 -> number 5, null, true, array...
  std::string describe() const;

 private:
  using Value = std::variant<std::monostate, bool, int64_t, double, std::string>;
  FieldValue(Kind k, Value v) : kind_(k), value_(std::move(v)) {}
  Kind kind_ = Kind::null;
  Value value_;
};

const char* to_string(FieldValue::Kind kind);

// One record. CSV/TSV fields follow the header's order; JSONL fields are sorted by name.
struct TableRow {
  size_t line = 0;  // 1-based physical line where the record starts
  std::vector<std::pair<std::string, FieldValue>> fields;

  // The field with that name, or nullptr. Linear in the number of fields (a handful).
  const FieldValue* find(std::string_view name) const;
  FieldValue* find(std::string_view name);
  // "text, label" (the field names, for messages).
  std::string field_names() const;
};

struct Table {
  std::string source;  // the name used in messages (path as given, or display name)
  TableFormat format = TableFormat::jsonl;
  std::vector<std::string> columns;  // CSV/TSV header; empty for JSONL
  size_t header_line = 0;            // CSV/TSV: the header's line; 0 for JSONL
  std::vector<TableRow> rows;
};

struct TableReadOptions {
  std::optional<TableFormat> format;  // absent: from the extension
  std::string display_name;           // empty: the path as given
};

// Throws trellis::Error for an unknown extension: "data.txt: unsupported file extension '.txt'
// (accepted: .jsonl, .ndjson, .csv, .tsv, .tab)".
TableFormat table_format_from_path(const std::filesystem::path& path);
// The format an extension (".jsonl", ".CSV", ...) names, case-insensitively; nullopt if none.
std::optional<TableFormat> table_format_of_extension(const std::string& extension);

// Reads the whole file and parses it. Linear in the file size.
Table read_table(const std::filesystem::path& path, const TableReadOptions& options = {});

// Parses a table held in memory; `source` names it in messages.
Table parse_table(std::string_view content, TableFormat format, std::string source);

}  // namespace trellis
