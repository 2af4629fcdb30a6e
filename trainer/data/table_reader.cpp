#include "trainer/data/table_reader.h"

#include "common/files.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace trellis {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::string describe_text(std::string_view s) {
  constexpr size_t kMax = 40;
  std::string out = "\"";
  out += s.size() <= kMax ? s : s.substr(0, kMax);
  if (s.size() > kMax) out += "...";
  return out + "\"";
}

std::string format_double(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  return ec == std::errc{} ? std::string(buf, end) : std::string("?");
}

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 1;
    else if (c == 0xE0) {
      n = 2;
      lo = 0xA0;
    } else if (c == 0xED) {
      n = 2;
      hi = 0x9F;
    } else if (c >= 0xE1 && c <= 0xEF) n = 2;
    else if (c == 0xF0) {
      n = 3;
      lo = 0x90;
    } else if (c == 0xF4) {
      n = 3;
      hi = 0x8F;
    } else if (c >= 0xF1 && c <= 0xF3) n = 3;
    else return false;
    if (static_cast<size_t>(end - p) <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i <= n; ++i)
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    p += n + 1;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// JSONL

FieldValue to_field_value(nlohmann::json& v) {
  using T = nlohmann::json::value_t;
  switch (v.type()) {
    case T::null: return FieldValue();
    case T::boolean: return FieldValue::boolean(v.get<bool>());
    case T::number_integer: return FieldValue::integer(v.get<int64_t>());
    case T::number_unsigned: {
      auto u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return FieldValue::integer(static_cast<int64_t>(u));
      return FieldValue::floating(static_cast<double>(u));
    }
    case T::number_float: return FieldValue::floating(v.get<double>());
    case T::string: return FieldValue::string(std::move(v.get_ref<std::string&>()));
    case T::array: return FieldValue::array();
    default: return FieldValue::object();  // object, binary, discarded
  }
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix and without the
// meaningless "line 1" (each record is parsed on its own).
std::string clean_json_message(std::string msg) {
  if (auto p = msg.find("] "); msg.starts_with("[json.exception.") && p != std::string::npos) msg.erase(0, p + 2);
  if (auto p = msg.find("at line 1, column "); p != std::string::npos) msg.replace(p, 18, "at column ");
  return msg;
}

void parse_jsonl(std::string_view content, Table& table) {
  size_t line_no = 0;
  size_t pos = 0;
  std::unordered_set<std::string> keys;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    size_t end = nl == std::string_view::npos ? content.size() : nl;
    std::string_view line = content.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? content.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = table.source + ":" + std::to_string(line_no) + ": ";

    keys.clear();
    std::string duplicate;
    nlohmann::json::parser_callback_t check_keys = [&](int depth, nlohmann::json::parse_event_t event,
                                                       nlohmann::json& parsed) {
      if (event == nlohmann::json::parse_event_t::key && depth == 1 && parsed.is_string() &&
          !keys.insert(parsed.get_ref<const std::string&>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    };
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(line, check_keys);
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + "invalid JSON: " + clean_json_message(e.what()));
    }
    if (!value.is_object()) throw Error(where + "expected a JSON object, got " + std::string(value.type_name()));
    if (!duplicate.empty()) throw Error(where + "key '" + duplicate + "' appears more than once");

    TableRow row;
    row.line = line_no;
    auto& object = value.get_ref<nlohmann::json::object_t&>();
    row.fields.reserve(object.size());
    for (auto& [key, v] : object) row.fields.emplace_back(key, to_field_value(v));
    table.rows.push_back(std::move(row));
  }
}

// ---------------------------------------------------------------------------------------------
// CSV / TSV

class DelimitedParser {
 public:
  DelimitedParser(std::string_view s, char delim, const std::string& source) : s_(s), delim_(delim), source_(source) {}

  // Reads the next record into `fields` (cleared first); false at the end of input.
  // `columns` (may be empty while reading the header) only improves messages.
  bool next(std::vector<std::string>& fields, size_t& start_line, const std::vector<std::string>& columns) {
    skip_empty_lines();
    if (pos_ >= s_.size()) return false;
    start_line = line_;
    fields.clear();
    for (;;) {
      std::string& field = fields.emplace_back();
      bool quoted = s_[pos_] == '"';
      if (quoted) read_quoted(field, start_line);
      else read_unquoted(field);
      // Now at a delimiter, a line end or the end of input.
      if (pos_ >= s_.size()) return true;
      char c = s_[pos_];
      if (c == delim_) {
        ++pos_;
        if (pos_ >= s_.size()) {
          fields.emplace_back();
          return true;
        }
        continue;
      }
      if (at_line_end()) {
        consume_line_end();
        return true;
      }
      // Only reachable after a closing quote.
      std::string field_name = "field " + std::to_string(fields.size());
      if (fields.size() <= columns.size()) field_name += " ('" + columns[fields.size() - 1] + "')";
      throw Error(source_ + ":" + std::to_string(line_) + ": unexpected character '" + std::string(1, c) +
                  "' after the closing quote of " + field_name +
                  " (quote the whole field and double any quote inside it)");
    }
  }

 private:
  bool at_line_end() const {
    if (s_[pos_] == '\n') return true;
    return s_[pos_] == '\r' && (pos_ + 1 == s_.size() || s_[pos_ + 1] == '\n');
  }
  void consume_line_end() {
    if (s_[pos_] == '\r') ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '\n') ++pos_;
    ++line_;
  }
  void skip_empty_lines() {
    while (pos_ < s_.size() && at_line_end()) consume_line_end();
  }
  void read_unquoted(std::string& field) {
    size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] != delim_ && !at_line_end()) ++pos_;
    field.assign(s_.substr(start, pos_ - start));
  }
  void read_quoted(std::string& field, size_t start_line) {
    ++pos_;  // opening quote
    for (;;) {
      size_t q = s_.find('"', pos_);
      if (q == std::string_view::npos)
        throw Error(source_ + ":" + std::to_string(start_line) + ": unterminated quoted field");
      std::string_view part = s_.substr(pos_, q - pos_);
      line_ += static_cast<size_t>(std::count(part.begin(), part.end(), '\n'));
      field.append(part);
      pos_ = q + 1;
      if (pos_ < s_.size() && s_[pos_] == '"') {  // doubled quote
        field.push_back('"');
        ++pos_;
        continue;
      }
      return;
    }
  }

  std::string_view s_;
  char delim_;
  const std::string& source_;
  size_t pos_ = 0;
  size_t line_ = 1;
};

void parse_delimited(std::string_view content, char delim, Table& table) {
  DelimitedParser parser(content, delim, table.source);
  std::vector<std::string> fields;
  size_t line = 0;
  if (!parser.next(fields, line, table.columns))
    throw Error(table.source + ": the file is empty (a header row is required)");
  const std::string header_where = table.source + ":" + std::to_string(line) + ": ";
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].empty())
      throw Error(header_where + "column " + std::to_string(i + 1) + " of the header has an empty name");
    if (!valid_utf8(fields[i]))
      throw Error(header_where + "column " + std::to_string(i + 1) + " of the header is not valid UTF-8");
    if (!seen.insert(fields[i]).second)
      throw Error(header_where + "duplicate column name '" + fields[i] + "' in the header");
  }
  table.columns = fields;
  table.header_line = line;

  std::string column_list;
  for (const auto& c : table.columns) column_list += (column_list.empty() ? "" : ", ") + c;

  while (parser.next(fields, line, table.columns)) {
    const auto where = [&] { return table.source + ":" + std::to_string(line) + ": "; };
    if (fields.size() != table.columns.size())
      throw Error(where() + "expected " + std::to_string(table.columns.size()) + " fields (" + column_list +
                  ") but found " + std::to_string(fields.size()));
    TableRow row;
    row.line = line;
    row.fields.reserve(fields.size());
    for (size_t i = 0; i < fields.size(); ++i) {
      if (!valid_utf8(fields[i])) throw Error(where() + "field '" + table.columns[i] + "' is not valid UTF-8");
      row.fields.emplace_back(table.columns[i], FieldValue::string(std::move(fields[i])));
    }
    table.rows.push_back(std::move(row));
  }
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

}  // namespace

std::string FieldValue::describe() const {
  switch (kind_) {
    case Kind::null: return "null";
    case Kind::boolean: return as_bool() ? "boolean true" : "boolean false";
    case Kind::integer: return "number " + std::to_string(as_integer());
    case Kind::floating: return "number " + format_double(as_floating());
    case Kind::string: return "string " + describe_text(as_string());
    case Kind::array: return "an array";
    case Kind::object: return "an object";
  }
  return "?";
}

const char* to_string(FieldValue::Kind kind) {
  switch (kind) {
    case FieldValue::Kind::null: return "null";
    case FieldValue::Kind::boolean: return "boolean";
    case FieldValue::Kind::integer: return "integer";
    case FieldValue::Kind::floating: return "floating";
    case FieldValue::Kind::string: return "string";
    case FieldValue::Kind::array: return "array";
    case FieldValue::Kind::object: return "object";
  }
  return "?";
}

const FieldValue* TableRow::find(std::string_view name) const {
  for (const auto& [k, v] : fields)
    if (k == name) return &v;
  return nullptr;
}

FieldValue* TableRow::find(std::string_view name) {
  for (auto& [k, v] : fields)
    if (k == name) return &v;
  return nullptr;
}

std::string TableRow::field_names() const {
  std::string out;
  for (const auto& [k, v] : fields) out += (out.empty() ? "" : ", ") + k;
  return out;
}

std::optional<TableFormat> table_format_of_extension(const std::string& extension) {
  const std::string ext = lower(extension);
  if (ext == ".jsonl" || ext == ".ndjson") return TableFormat::jsonl;
  if (ext == ".csv") return TableFormat::csv;
  if (ext == ".tsv" || ext == ".tab") return TableFormat::tsv;
  return std::nullopt;
}

TableFormat table_format_from_path(const std::filesystem::path& path) {
  const std::string ext = lower(path.extension().string());
  if (auto format = table_format_of_extension(ext)) return *format;
  throw Error(path.string() + ": unsupported file extension " + (ext.empty() ? "(none)" : "'" + ext + "'") +
              " (accepted: .jsonl, .ndjson, .csv, .tsv, .tab)");
}

Table read_table(const std::filesystem::path& path, const TableReadOptions& options) {
  const TableFormat format = options.format ? *options.format : table_format_from_path(path);
  return parse_table(read_text_file(path), format, options.display_name.empty() ? path.string() : options.display_name);
}

Table parse_table(std::string_view content, TableFormat format, std::string source) {
  Table table;
  table.source = std::move(source);
  table.format = format;
  if (content.starts_with(kBom)) content.remove_prefix(kBom.size());
  switch (format) {
    case TableFormat::jsonl: parse_jsonl(content, table); break;
    case TableFormat::csv: parse_delimited(content, ',', table); break;
    case TableFormat::tsv: parse_delimited(content, '\t', table); break;
  }
  return table;
}

}  // namespace trellis
