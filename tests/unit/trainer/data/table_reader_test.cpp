// Tests for trainer/data/table_reader: JSONL/CSV/TSV parsing, quoting edge cases, line numbers
// and every error path (messages must name the file and the line).
#include "trainer/data/table_reader.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <random>
#include <unistd.h>

#include "tests/support/error_text.h"
#include "common/error.h"

namespace trellis {
namespace {

// Substring checks with gtest alone (the core tests link gtest_main, not gmock).

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("trellis_table_reader_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    auto p = path_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

 private:
  std::filesystem::path path_;
};

using testing::error_of;

Table csv(const std::string& s) { return parse_table(s, TableFormat::csv, "dev.csv"); }
Table jsonl(const std::string& s) { return parse_table(s, TableFormat::jsonl, "train.jsonl"); }

std::string str(const TableRow& row, const std::string& field) {
  const FieldValue* v = row.find(field);
  EXPECT_NE(v, nullptr) << field;
  return v && v->is_string() ? v->as_string() : "<not a string>";
}

TEST(TableFormat, FromExtension) {
  EXPECT_EQ(table_format_from_path("a/train.jsonl"), TableFormat::jsonl);
  EXPECT_EQ(table_format_from_path("x.ndjson"), TableFormat::jsonl);
  EXPECT_EQ(table_format_from_path("x.CSV"), TableFormat::csv);
  EXPECT_EQ(table_format_from_path("x.tsv"), TableFormat::tsv);
  EXPECT_EQ(table_format_from_path("x.tab"), TableFormat::tsv);
  const std::string msg = error_of([] { table_format_from_path("data/train.txt"); });
  EXPECT_HAS(msg, "data/train.txt");
  EXPECT_HAS(msg, "'.txt'");
  EXPECT_HAS(msg, ".jsonl, .ndjson, .csv, .tsv, .tab");
  EXPECT_HAS(error_of([] { table_format_from_path("train"); }), "(none)");
}

TEST(Jsonl, ValuesAndLines) {
  const Table t = jsonl(
      "\xEF\xBB\xBF{\"text\": \"caf\\u00e9\", \"label\": 1}\n"
      "\n"
      "   \r\n"
      "{\"text\": \"b\", \"label\": 2.5, \"flag\": true, \"none\": null, \"arr\": [1], \"obj\": {}}\r\n"
      "{\"big\": 18446744073709551615, \"neg\": -3}");  // no final newline
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_TRUE(t.columns.empty());
  EXPECT_EQ(t.rows[0].line, 1u);
  EXPECT_EQ(str(t.rows[0], "text"), "caf\xC3\xA9");
  EXPECT_EQ(t.rows[0].find("label")->kind(), FieldValue::Kind::integer);
  EXPECT_EQ(t.rows[0].find("label")->as_integer(), 1);
  EXPECT_EQ(t.rows[1].line, 4u);
  EXPECT_EQ(t.rows[1].find("label")->as_floating(), 2.5);
  EXPECT_TRUE(t.rows[1].find("flag")->as_bool());
  EXPECT_TRUE(t.rows[1].find("none")->is_null());
  EXPECT_EQ(t.rows[1].find("arr")->kind(), FieldValue::Kind::array);
  EXPECT_EQ(t.rows[1].find("obj")->kind(), FieldValue::Kind::object);
  EXPECT_EQ(t.rows[1].find("missing"), nullptr);
  EXPECT_EQ(t.rows[2].line, 5u);
  EXPECT_EQ(t.rows[2].find("big")->kind(), FieldValue::Kind::floating);
  EXPECT_EQ(t.rows[2].find("neg")->as_integer(), -3);
  EXPECT_EQ(t.rows[2].field_names(), "big, neg");
}

TEST(Jsonl, EmptyFileHasNoRows) {
  EXPECT_TRUE(jsonl("").rows.empty());
  EXPECT_TRUE(jsonl("\n\n  \n").rows.empty());
}

TEST(Jsonl, Errors) {
  std::string msg = error_of([] { jsonl("{\"text\": \"a\"}\n\n{\"text\": x}\n"); });
  EXPECT_HAS(msg, "train.jsonl:3: invalid JSON: ");
  EXPECT_HAS(msg, "at column 10");
  EXPECT_HAS_NOT(msg, "json.exception");
  EXPECT_HAS(error_of([] { jsonl("{\"a\": 1} {\"b\": 2}\n"); }), "train.jsonl:1: invalid JSON");
  EXPECT_HAS(error_of([] { jsonl("{\"a\": 1}\n[1, 2]\n"); }), "train.jsonl:2: expected a JSON object, got array");
  EXPECT_HAS(error_of([] { jsonl("\"text\"\n"); }), "train.jsonl:1: expected a JSON object, got string");
  EXPECT_HAS(error_of([] { jsonl("{\"label\": 1, \"text\": \"a\", \"label\": 2}\n"); }),
             "train.jsonl:1: key 'label' appears more than once");
  // Nested duplicates are not our business.
  EXPECT_EQ(jsonl("{\"a\": {\"b\": 1}, \"c\": {\"b\": 2}}").rows.size(), 1u);
  EXPECT_HAS(error_of([] { jsonl("{\"text\": \"\xFF\"}\n"); }), "train.jsonl:1: invalid JSON");
}

TEST(Csv, QuotingEdgeCases) {
  const Table t =
      csv("\xEF\xBB\xBFtext,label,note\r\n"
          "plain,pos,\r\n"                              // line 2: empty last field
          "\"with, comma\",neg,\"say \"\"hi\"\"\"\r\n"  // line 3
          "\r\n"                                        // line 4: skipped
          "\"multi\nline\r\nvalue\",pos,x\n"            // lines 5-7
          "a \"quote\" inside,neg,\"\"\n"               // line 8: literal quotes, empty quoted field
          "\n"
          "last,pos,end");  // line 10, no final newline
  ASSERT_EQ(t.columns, (std::vector<std::string>{"text", "label", "note"}));
  EXPECT_EQ(t.header_line, 1u);
  ASSERT_EQ(t.rows.size(), 5u);
  EXPECT_EQ(t.rows[0].line, 2u);
  EXPECT_EQ(str(t.rows[0], "text"), "plain");
  EXPECT_EQ(str(t.rows[0], "note"), "");
  EXPECT_EQ(t.rows[1].line, 3u);
  EXPECT_EQ(str(t.rows[1], "text"), "with, comma");
  EXPECT_EQ(str(t.rows[1], "note"), "say \"hi\"");
  EXPECT_EQ(t.rows[2].line, 5u);
  EXPECT_EQ(str(t.rows[2], "text"), "multi\nline\r\nvalue");
  EXPECT_EQ(str(t.rows[2], "label"), "pos");
  EXPECT_EQ(t.rows[3].line, 8u);
  EXPECT_EQ(str(t.rows[3], "text"), "a \"quote\" inside");
  EXPECT_EQ(str(t.rows[3], "note"), "");
  EXPECT_EQ(t.rows[4].line, 10u);
  EXPECT_EQ(str(t.rows[4], "note"), "end");
  for (const auto& row : t.rows)
    for (const auto& [name, value] : row.fields) EXPECT_TRUE(value.is_string()) << name;
}

TEST(Csv, CellsAreStringsVerbatim) {
  const Table t = csv("text,label\n 1 , 2.0\n");
  EXPECT_EQ(str(t.rows[0], "text"), " 1 ");
  EXPECT_EQ(str(t.rows[0], "label"), " 2.0");
}

TEST(Csv, TrailingDelimiterAtEndOfInputIsAnEmptyField) {
  const Table t = csv("a,b\nx,");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(str(t.rows[0], "b"), "");
}

TEST(Csv, HeaderOnlyHasNoRows) {
  const Table t = csv("text,label\n");
  EXPECT_EQ(t.columns.size(), 2u);
  EXPECT_TRUE(t.rows.empty());
}

TEST(Csv, LeadingEmptyLinesMoveTheHeader) {
  const Table t = csv("\n\ntext,label\nx,y\n");
  EXPECT_EQ(t.header_line, 3u);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].line, 4u);
}

TEST(Csv, Errors) {
  // Unterminated quote: reported at the line where the record starts.
  EXPECT_HAS(error_of([] { csv("text,label\na,b\n\"open,x\nmore\n"); }), "dev.csv:3: unterminated quoted field");
  EXPECT_HAS(error_of([] { csv("text,label\na,b\nonly-one\n"); }),
             "dev.csv:3: expected 2 fields (text, label) but found 1");
  EXPECT_HAS(error_of([] { csv("text,label\n\"a\nb\",c,d\n"); }), "dev.csv:2: expected 2 fields");
  EXPECT_HAS(error_of([] { csv("text,label\na,b,\n"); }), "dev.csv:2: expected 2 fields (text, label) but found 3");
  EXPECT_HAS(error_of([] { csv("text,label,text\n"); }), "dev.csv:1: duplicate column name 'text' in the header");
  EXPECT_HAS(error_of([] { csv("text,,label\n"); }), "dev.csv:1: column 2 of the header has an empty name");
  EXPECT_HAS(error_of([] { csv(""); }), "dev.csv: the file is empty (a header row is required)");
  EXPECT_HAS(error_of([] { csv("\xEF\xBB\xBF\r\n\n"); }), "dev.csv: the file is empty");
  EXPECT_HAS(error_of([] { csv("text,label\n\"a\"x,b\n"); }),
             "dev.csv:2: unexpected character 'x' after the closing quote of field 1 ('text')");
  EXPECT_HAS(error_of([] { csv("text,label\na,\"b\nc\" d\n"); }),
             "dev.csv:3: unexpected character ' ' after the closing quote of field 2 ('label')");
  EXPECT_HAS(error_of([] { csv("text,label\nok,fine\nbad\xC3,x\n"); }), "dev.csv:3: field 'text' is not valid UTF-8");
  EXPECT_HAS(error_of([] { csv("text,label\n\xED\xA0\x80,x\n"); }), "not valid UTF-8");  // surrogate
  EXPECT_HAS(error_of([] { csv("text,label\n\xC0\xAF,x\n"); }), "not valid UTF-8");      // overlong
  EXPECT_HAS(error_of([] { csv("te\xFFxt,label\n"); }), "dev.csv:1: column 1 of the header is not valid UTF-8");
}

TEST(Csv, ValidUtf8Passes) {
  const Table t = csv("text,label\n\xF0\x9F\x98\x80 \xE4\xB8\xAD \xC3\xA9,x\n");
  EXPECT_EQ(str(t.rows[0], "text"), "\xF0\x9F\x98\x80 \xE4\xB8\xAD \xC3\xA9");
}

TEST(Tsv, TabsAndQuotes) {
  const Table t = parse_table("text\tlabel\n\"a\tb\"\t1\nc, d\t0\n", TableFormat::tsv, "dev.tsv");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(str(t.rows[0], "text"), "a\tb");
  EXPECT_EQ(str(t.rows[1], "text"), "c, d");
  EXPECT_HAS(error_of([] { parse_table("text\tlabel\na\n", TableFormat::tsv, "dev.tsv"); }),
             "dev.tsv:2: expected 2 fields");
}

TEST(ReadTable, FilesFormatsAndNames) {
  TempDir dir;
  const auto csv_path = dir.write("dev.csv", "text,label\na,b\n");
  const Table t = read_table(csv_path);
  EXPECT_EQ(t.format, TableFormat::csv);
  EXPECT_EQ(t.source, csv_path.string());
  ASSERT_EQ(t.rows.size(), 1u);

  const auto bad = dir.write("upload-1234", "text,label\nonly\n");
  EXPECT_HAS(error_of([&] { read_table(bad); }), "unsupported file extension");
  const std::string msg = error_of([&] { read_table(bad, {TableFormat::csv, "train.csv"}); });
  EXPECT_HAS(msg, "train.csv:2: expected 2 fields");

  const auto missing = dir.write("x.jsonl", "").parent_path() / "nope.jsonl";
  EXPECT_HAS(error_of([&] { read_table(missing); }), "cannot open '" + missing.string() + "'");
}

TEST(ReadTable, HundredThousandRowsIsFast) {
  std::string c = "text,label\n", j;
  for (int i = 0; i < 100000; ++i) {
    const std::string text = "sentence number " + std::to_string(i) + " with some words";
    c += "\"" + text + "\"," + std::to_string(i % 3) + "\n";
    j += "{\"text\": \"" + text + "\", \"label\": " + std::to_string(i % 3) + "}\n";
  }
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(csv(c).rows.size(), 100000u);
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(jsonl(j).rows.size(), 100000u);
  const auto t2 = std::chrono::steady_clock::now();
  // Generous bounds (shared 2-core machines, debug builds): catch quadratic behaviour only.
  EXPECT_LT(std::chrono::duration<double>(t1 - t0).count(), 5.0);
  EXPECT_LT(std::chrono::duration<double>(t2 - t1).count(), 10.0);
}

}  // namespace
}  // namespace trellis
