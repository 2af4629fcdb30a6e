#include "trainer/data/examples.h"

#include <charconv>
#include <cmath>
#include <string_view>

#include "common/error.h"

namespace trellis {
namespace {

class RowContext {
 public:
  RowContext(const Table& table, const TableRow& row) : table_(table), row_(row) {}

  std::string where() const { return table_.source + ":" + std::to_string(row_.line) + ": "; }
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw Error(where() + "field '" + field + "' " + what);
  }
  [[noreturn]] void fail_missing(const std::string& field) const {
    std::string msg = where() + "field '" + field + "' is missing";
    if (table_.columns.empty()) msg += " (fields: " + (row_.fields.empty() ? "none" : row_.field_names()) + ")";
    throw Error(msg);
  }

 private:
  const Table& table_;
  const TableRow& row_;
};

std::string take_text(TableRow& row, const std::string& field, const RowContext& ctx) {
  FieldValue* v = row.find(field);
  if (!v) ctx.fail_missing(field);
  if (!v->is_string()) ctx.fail(field, "must be a string, got " + v->describe());
  return std::move(v->as_string());
}

std::optional<double> parse_number(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.starts_with('+')) s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return d;
}

// Fills label/target/has_label (left false when the label is absent and not required).
void take_label(TableRow& row, const std::string& field, TaskType type, bool require_label, const RowContext& ctx,
                RawExample& out) {
  FieldValue* v = row.find(field);
  const bool empty_string = v && v->is_string() && v->as_string().empty();
  if (!v || v->is_null() || empty_string) {
    if (!require_label) return;
    if (!v) ctx.fail_missing(field);
    ctx.fail(field, v->is_null() ? "is null" : "is empty");
  }
  using K = FieldValue::Kind;
  if (type == TaskType::classification) {
    switch (v->kind()) {
      case K::string: out.label = std::move(v->as_string()); break;
      case K::integer: out.label = std::to_string(v->as_integer()); break;
      case K::boolean: out.label = v->as_bool() ? "true" : "false"; break;
      case K::floating: {
        const double d = v->as_floating();
        if (!(std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 0x1.0p63))
          ctx.fail(field, "must be a string or an integer for classification, got " + v->describe());
        out.label = std::to_string(static_cast<int64_t>(d));
        break;
      }
      default: ctx.fail(field, "must be a string or an integer for classification, got " + v->describe());
    }
  } else {
    std::optional<double> d;
    if (v->is_number()) d = v->as_number();
    else if (v->is_string()) d = parse_number(v->as_string());
    if (!d || !std::isfinite(*d)) ctx.fail(field, "must be a finite number for regression, got " + v->describe());
    out.target = *d;
  }
  out.has_label = true;
}

}  // namespace

FieldNames field_names_of(const DataSpec& data) {
  return FieldNames{data.text_field, data.text_pair_field, data.label_field};
}

std::vector<RawExample> examples_from_table(Table table, const FieldNames& names, TaskType type, bool require_label) {
  const bool pair_clash = names.text_pair && (*names.text_pair == names.text || *names.text_pair == names.label);
  if (names.text == names.label || pair_clash)
    throw Error(table.source + ": the text, text pair and label fields must be different fields");
  if (!table.columns.empty()) {  // CSV/TSV: a missing column is reported once, at the header
    auto check = [&](const std::string& name) {
      for (const auto& c : table.columns)
        if (c == name) return;
      std::string list;
      for (const auto& c : table.columns) list += (list.empty() ? "" : ", ") + c;
      throw Error(table.source + ":" + std::to_string(table.header_line) + ": column '" + name +
                  "' is missing from the header (columns: " + list + ")");
    };
    check(names.text);
    if (names.text_pair) check(*names.text_pair);
    if (require_label) check(names.label);
  }
  if (table.rows.empty()) throw Error(table.source + ": no examples");

  std::vector<RawExample> out;
  out.reserve(table.rows.size());
  for (TableRow& row : table.rows) {
    const RowContext ctx(table, row);
    RawExample ex;
    ex.line = row.line;
    ex.text = take_text(row, names.text, ctx);
    if (names.text_pair) ex.text_pair = take_text(row, *names.text_pair, ctx);
    take_label(row, names.label, type, require_label, ctx, ex);
    out.push_back(std::move(ex));
  }
  return out;
}

std::vector<RawExample> read_examples(const std::filesystem::path& path, const FieldNames& names, TaskType type,
                                      bool require_label, const TableReadOptions& options) {
  return examples_from_table(read_table(path, options), names, type, require_label);
}

}  // namespace trellis
