// Vocab, BertNormalizer and BertTokenizer: unit tests on a hand-made vocab, and parity with HF's
// BertTokenizerFast on the reference written by tests/reference/tokenizer_reference.py.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "trainer/text/bert_normalizer.h"
#include "trainer/text/bert_tokenizer.h"
#include "trainer/text/vocab.h"
#include "common/error.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;
using Strings = std::vector<std::string>;

fs::path testdata_dir() {
  if (const char* env = std::getenv("TRELLIS_TESTDATA_DIR"); env && *env) return env;
  return TRELLIS_TESTDATA_DIR;
}

constexpr const char* kMakeReference = "tests/reference/tokenizer_reference.py writes it";

fs::path real_vocab_path() {
  return fs::path(TRELLIS_SOURCE_DIR) / "assets" / "backbones" / "all-MiniLM-L6-v2" / "vocab.txt";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no trellis::Error thrown)";
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("trellis_tokenizer_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return path_ / name;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

// ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the words below from 5.
const Strings kTinyTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",    "unaff", "##aff", "##able",
                             "##a",   "##ble", "a",     "##b",   "b",      "hello", "world", "!",     ",",
                             "cafe",  "the",   "end",   "##s",   "naive",  "i",     "##i",   "x"};

BertTokenizer tiny_tokenizer(TokenizerOptions options = {}) {
  return BertTokenizer(Vocab::from_tokens(kTinyTokens), std::move(options));
}

// ---------------- Vocab ----------------

TEST(Vocab, FromTokensFindsIdsAndTokens) {
  Vocab v = Vocab::from_tokens({"a", "b", "##c"});
  EXPECT_EQ(v.size(), 3u);
  EXPECT_EQ(v.find("##c"), 2);
  EXPECT_EQ(v.find("c"), std::nullopt);
  EXPECT_EQ(v.token(1), "b");
  EXPECT_NE(error_of([&] { (void)v.token(3); }).find("outside the vocabulary"), std::string::npos);
  EXPECT_NE(error_of([] { Vocab::from_tokens({"a", "b", "a"}); }).find("'a' at index 2"), std::string::npos);
  EXPECT_NE(error_of([] { Vocab::from_tokens({}); }).find("no tokens"), std::string::npos);
}

TEST(Vocab, LoadKeepsLineOrderAndStripsLineEndings) {
  TempDir dir;
  Vocab v = Vocab::load(dir.write("vocab.txt", "[PAD]\r\n[UNK]\nhello\n with space \n"));
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v.find("[UNK]"), 1);
  EXPECT_EQ(v.find("hello"), 2);
  EXPECT_EQ(v.token(3), " with space ");  // only the line ending is removed, as in HF
  Vocab no_final_newline = Vocab::load(dir.write("v2.txt", "a\nb"));
  EXPECT_EQ(no_final_newline.size(), 2u);
}

TEST(Vocab, LoadErrorsNameTheFileAndLine) {
  TempDir dir;
  const fs::path dup = dir.write("dup.txt", "[PAD]\nhello\nworld\nhello\n");
  const std::string msg = error_of([&] { Vocab::load(dup); });
  EXPECT_NE(msg.find(dup.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'hello'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;

  const fs::path missing = dir.path() / "missing.txt";
  EXPECT_NE(error_of([&] { Vocab::load(missing); }).find("Cannot open vocabulary file '" + missing.string()),
            std::string::npos);
  const fs::path empty = dir.write("empty.txt", "");
  EXPECT_NE(error_of([&] { Vocab::load(empty); }).find("is empty"), std::string::npos);
}

// ---------------- normaliser and character classes ----------------

TEST(BertNormalizer, CleansPadsStripsAndLowercases) {
  BertNormalizer n;
  // \x01 and ZWSP removed, \t and NBSP become spaces.
  EXPECT_EQ(n.normalize("A\tb\x01\xE2\x80\x8B"
                        "c\xC2\xA0"
                        "D"),
            U"a bc d");
  EXPECT_EQ(n.normalize("Crème"), U"creme");
  EXPECT_EQ(n.normalize("中文"), U" 中  文 ");
  EXPECT_EQ(n.normalize("\xC4\xB0"), U"i");  // İ: NFD I + U+0307, mark stripped, then lowercased
  BertNormalizer keep_accents({.strip_accents = false});
  EXPECT_EQ(keep_accents.normalize("\xC4\xB0"), U"i\u0307");  // full lowercase mapping of U+0130
  EXPECT_EQ(keep_accents.normalize("ΟΔΟΣ"), U"οδοσ");         // per character: no final sigma
}

TEST(BertNormalizer, InvalidUtf8BecomesReplacementCharacterThenRemoved) {
  std::u32string out;
  decode_utf8(
      "a\xFF"
      "b\xC0\xAF"
      "c\xED\xA0\x80"
      "d\xE4\xB8",
      out);  // stray, overlong, surrogate, truncated
  EXPECT_EQ(out, U"a\uFFFDb\uFFFD\uFFFDc\uFFFD\uFFFD\uFFFDd\uFFFD\uFFFD");
  EXPECT_EQ(BertNormalizer().normalize("ab\xFF"
                                       "cd"),
            U"abcd");
}

TEST(BertNormalizer, CharacterClassesFollowHf) {
  EXPECT_TRUE(is_bert_punctuation(U'$'));  // ASCII symbols count as punctuation
  EXPECT_TRUE(is_bert_punctuation(U'\u2014'));
  EXPECT_FALSE(is_bert_punctuation(U'\u20AC'));  // € is a symbol (Sc)
  EXPECT_FALSE(is_bert_punctuation(U'\u2E43'));  // punctuation since Unicode 9, not to HF
  EXPECT_TRUE(is_bert_punctuation(U'\u166D'));   // punctuation to HF, a symbol today
  EXPECT_TRUE(is_bert_whitespace(U'\u3000'));
  EXPECT_TRUE(is_bert_whitespace(U'\u0085'));
  EXPECT_FALSE(is_bert_whitespace(U'\u200B'));
  EXPECT_TRUE(is_bert_control(U'\u200B'));
  EXPECT_FALSE(is_bert_control(U'\n'));
  EXPECT_FALSE(is_bert_chinese_char(U'\U0002B820'));  // tokenizers' range starts at 0x2B920
  EXPECT_TRUE(is_bert_chinese_char(U'\U0002B920'));
}

// ---------------- WordPiece ----------------

TEST(BertTokenizer, GreedyLongestMatchFirst) {
  BertTokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.tokenize("unaffable"), (Strings{"unaff", "##able"}));
  EXPECT_EQ(tok.tokenize("unable"), (Strings{"un", "##able"}));
  EXPECT_EQ(tok.tokenize("ab"), (Strings{"a", "##b"}));
  EXPECT_EQ(tok.tokenize("aaab"), (Strings{"a", "##a", "##a", "##b"}));
  EXPECT_EQ(tok.tokenize_ids("unaffable"), (Ids{6, 8}));
}

TEST(BertTokenizer, SplitsOnWhitespaceAndPunctuationAfterNormalising) {
  BertTokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.tokenize("  Hello,\tWORLD!! "), (Strings{"hello", ",", "world", "!", "!"}));
  EXPECT_EQ(tok.tokenize("Café naïve"), (Strings{"cafe", "naive"}));
  EXPECT_TRUE(tok.tokenize("").empty());
  EXPECT_TRUE(tok.tokenize(" \t\n\u00A0").empty());
}

TEST(BertTokenizer, UnmatchableOrTooLongWordIsOneUnk) {
  TokenizerOptions opts;
  opts.max_input_chars_per_word = 5;
  BertTokenizer tok = tiny_tokenizer(opts);
  EXPECT_EQ(tok.tokenize("unx hello"), (Strings{"[UNK]", "hello"}));  // "un" matches, "##x" does not
  EXPECT_EQ(tok.tokenize("zz"), (Strings{"[UNK]"}));
  EXPECT_EQ(tok.tokenize("aaaaa"), (Strings{"a", "##a", "##a", "##a", "##a"}));
  EXPECT_EQ(tok.tokenize("aaaaaa"), (Strings{"[UNK]"}));  // 6 chars > 5
  // The limit counts code points after normalisation: ("i" + U+0301) x 3 is 3 chars once stripped.
  EXPECT_EQ(tok.tokenize("i\xCC\x81i\xCC\x81i\xCC\x81"), (Strings{"i", "##i", "##i"}));
}

TEST(BertTokenizer, SpecialTokensInTextAreKeptWhole) {
  BertTokenizer tok = tiny_tokenizer();
  EXPECT_EQ(tok.tokenize("hello[SEP]world [MASK]"), (Strings{"hello", "[SEP]", "world", "[MASK]"}));
  EXPECT_EQ(tok.tokenize("[sep]").front(), "[UNK]");  // matched case-sensitively: "[", "sep", "]"
  TokenizerOptions opts;
  opts.split_special_tokens = true;
  EXPECT_EQ(tiny_tokenizer(opts).tokenize("x[SEP]"), (Strings{"x", "[UNK]", "[UNK]", "[UNK]"}));
}

TEST(BertTokenizer, MissingSpecialTokenThrows) {
  EXPECT_NE(error_of([] {
              BertTokenizer(Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "a"}));
            }).find("'[SEP]' is not in the vocabulary"),
            std::string::npos);
  // [MASK] is optional.
  EXPECT_NO_THROW(BertTokenizer(Vocab::from_tokens({"[PAD]", "[UNK]", "[CLS]", "[SEP]"})));
}

// ---------------- encode, pairs and truncation ----------------

TEST(BertTokenizer, EncodesSingleAndPairWithTypeIds) {
  BertTokenizer tok = tiny_tokenizer();
  Encoding single = tok.encode("hello world", std::nullopt, 16);
  EXPECT_EQ(single.input_ids, (Ids{2, 14, 15, 3}));
  EXPECT_EQ(single.token_type_ids, (Ids{0, 0, 0, 0}));
  Encoding pair = tok.encode("hello", "the end", 16);
  EXPECT_EQ(pair.input_ids, (Ids{2, 14, 3, 19, 20, 3}));
  EXPECT_EQ(pair.token_type_ids, (Ids{0, 0, 0, 1, 1, 1}));
  // An empty pair is still a pair, as in tokenizers (and transformers' batch calls).
  Encoding empty_pair = tok.encode("hello", "", 16);
  EXPECT_EQ(empty_pair.input_ids, (Ids{2, 14, 3, 3}));
  EXPECT_EQ(empty_pair.token_type_ids, (Ids{0, 0, 0, 1}));
  EXPECT_EQ(tok.encode("", "hello", 16).input_ids, (Ids{2, 3, 14, 3}));
}

TEST(BertTokenizer, LongestFirstLengthsMatchTokenizers) {
  // Values observed from HF tokenizers 0.22 (see tokenizer_reference.py for the full parity test).
  EXPECT_EQ(longest_first_lengths(7, 4, 1), std::make_pair(size_t{1}, size_t{0}));
  EXPECT_EQ(longest_first_lengths(7, 4, 2), std::make_pair(size_t{1}, size_t{1}));
  EXPECT_EQ(longest_first_lengths(7, 4, 5), std::make_pair(size_t{3}, size_t{2}));
  EXPECT_EQ(longest_first_lengths(7, 4, 8), std::make_pair(size_t{4}, size_t{4}));
  EXPECT_EQ(longest_first_lengths(7, 4, 9), std::make_pair(size_t{5}, size_t{4}));
  EXPECT_EQ(longest_first_lengths(4, 7, 5), std::make_pair(size_t{2}, size_t{3}));
  EXPECT_EQ(longest_first_lengths(5, 5, 5), std::make_pair(size_t{2}, size_t{3}));   // tie: second gets more
  EXPECT_EQ(longest_first_lengths(2, 10, 8), std::make_pair(size_t{2}, size_t{6}));  // only the longer one
  EXPECT_EQ(longest_first_lengths(3, 3, 0), std::make_pair(size_t{0}, size_t{0}));
  EXPECT_EQ(longest_first_lengths(3, 3, 6), std::make_pair(size_t{3}, size_t{3}));
}

TEST(BertTokenizer, TruncatesBothSidesFromTheEnd) {
  BertTokenizer tok = tiny_tokenizer();
  const std::string a = "a a a a a a a";  // 7 ids of "a" (11)
  const std::string b = "b b b b";        // 4 ids of "b" (13)
  Encoding e = tok.encode(a, b, 8);       // budget 5: a keeps 3, b keeps 2
  EXPECT_EQ(e.input_ids, (Ids{2, 11, 11, 11, 3, 13, 13, 3}));
  EXPECT_EQ(e.token_type_ids, (Ids{0, 0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(tok.encode(a, b, 3).input_ids, (Ids{2, 3, 3}));
  EXPECT_EQ(tok.encode("hello world the end", std::nullopt, 4).input_ids, (Ids{2, 14, 15, 3}));
  EXPECT_EQ(tok.encode("hello world", std::nullopt, 2).input_ids, (Ids{2, 3}));
}

TEST(BertTokenizer, MaxSeqLenTooSmallForSpecialsThrows) {
  BertTokenizer tok = tiny_tokenizer();
  EXPECT_NE(error_of([&] { tok.encode("a", "b", 2); }).find("max_seq_len 2 leaves no room for the 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { tok.encode("a", std::nullopt, 1); }).find("2 special tokens"), std::string::npos);
}

TEST(BertTokenizer, ConstMethodsAreThreadSafe) {
  BertTokenizer tok = tiny_tokenizer();
  const Ids want = tok.encode("Hello, world! unaffable café", "the end", 12).input_ids;
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (tok.encode("Hello, world! unaffable café", "the end", 12).input_ids != want) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// ---------------- parity with HF ----------------

std::string ids_str(const Ids& ids) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ids.size(); ++i) os << (i ? ", " : "") << ids[i];
  os << "]";
  return os.str();
}

TEST(BertTokenizerHfParity, EveryReferenceCaseMatches) {
  const fs::path vocab_path = real_vocab_path();
  const fs::path ref_path = testdata_dir() / "tokenizer_reference.jsonl";
  if (!fs::exists(vocab_path)) GTEST_SKIP() << "missing backbone vocab " << vocab_path;
  if (!fs::exists(ref_path)) GTEST_SKIP() << "missing HF reference " << ref_path << " (" << kMakeReference << ")";
  const BertTokenizer tok(Vocab::load(vocab_path));

  std::ifstream in(ref_path);
  std::string line;
  size_t cases = 0, mismatches = 0;
  std::chrono::duration<double> elapsed{0};
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const std::string text = j.at("text").get<std::string>();
    std::optional<std::string> pair;
    if (!j.at("text_pair").is_null()) pair = j.at("text_pair").get<std::string>();
    const auto max_len = j.at("max_seq_len").get<size_t>();
    const Ids want_ids = j.at("input_ids").get<Ids>();
    const Ids want_types = j.at("token_type_ids").get<Ids>();
    ++cases;
    const auto t0 = std::chrono::steady_clock::now();
    const auto pair_view = pair ? std::optional<std::string_view>(*pair) : std::nullopt;
    const Encoding got = tok.encode(text, pair_view, max_len);
    elapsed += std::chrono::steady_clock::now() - t0;
    if (got.input_ids != want_ids || got.token_type_ids != want_types) {
      if (++mismatches <= 10) {
        ADD_FAILURE() << "case " << cases << " text=" << nlohmann::json(text).dump()
                      << " text_pair=" << (pair ? nlohmann::json(*pair).dump() : "null") << " max_seq_len=" << max_len
                      << "\n  HF    ids " << ids_str(want_ids) << " types " << ids_str(want_types) << "\n  ours  ids "
                      << ids_str(got.input_ids) << " types " << ids_str(got.token_type_ids);
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << cases << " cases";
  EXPECT_GE(cases, 500u) << "the reference " << ref_path << " is too small";
  std::cout << "[ parity   ] " << cases - mismatches << "/" << cases << " cases equal HF; encoding took "
            << elapsed.count() << " s\n";
}

// Each stage of the normaliser and the pre-tokenizer's classes, for every Unicode scalar value.
TEST(BertTokenizerHfParity, EveryCodePointBehavesAsInHf) {
  const fs::path ref_path = testdata_dir() / "tokenizer_unicode_reference.json";
  if (!fs::exists(ref_path)) GTEST_SKIP() << "missing HF reference " << ref_path << " (" << kMakeReference << ")";
  std::ifstream in(ref_path);
  const auto ref = nlohmann::json::parse(in);

  auto range_set = [&](const char* key) {
    std::vector<bool> set(0x110000, false);
    for (const auto& r : ref.at(key)) {
      for (uint32_t c = r.at(0).get<uint32_t>(); c <= r.at(1).get<uint32_t>(); ++c) set[c] = true;
    }
    return set;
  };
  auto mapping = [&](const char* key) {
    std::unordered_map<char32_t, std::u32string> m;
    for (const auto& e : ref.at(key)) {
      std::u32string s;
      for (const auto& c : e.at(1)) s.push_back(static_cast<char32_t>(c.get<uint32_t>()));
      m.emplace(static_cast<char32_t>(e.at(0).get<uint32_t>()), s);
    }
    return m;
  };
  const auto removed = range_set("clean_removed"), to_space = range_set("clean_to_space"),
             padded = range_set("chinese_padded"), punct = range_set("punctuation"), space = range_set("whitespace");
  const auto strip = mapping("strip_accents"), lower = mapping("lowercase");
  const BertNormalizer clean_only({true, false, false, false}), chinese_only({false, true, false, false}),
      strip_only({false, false, true, false}), lower_only({false, false, false, true});

  size_t bad = 0;
  auto report = [&](char32_t c, const char* what) {
    if (++bad <= 20) {
      ADD_FAILURE() << "U+" << std::hex << std::uppercase << static_cast<uint32_t>(c) << ": " << what;
    }
  };
  std::string utf8;
  std::u32string out;
  for (char32_t c = 0; c < 0x110000; ++c) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;
    const std::u32string self(1, c);
    utf8.clear();
    append_utf8(c, utf8);
    clean_only.normalize(utf8, out);
    if (out != (removed[c] ? U"" : to_space[c] ? U" " : self)) report(c, "clean_text");
    chinese_only.normalize(utf8, out);
    if (out != (padded[c] ? U" " + self + U" " : self)) report(c, "handle_chinese_chars");
    strip_only.normalize(utf8, out);
    if (auto it = strip.find(c); out != (it == strip.end() ? self : it->second)) report(c, "strip_accents");
    lower_only.normalize(utf8, out);
    if (auto it = lower.find(c); out != (it == lower.end() ? self : it->second)) report(c, "lowercase");
    if (is_bert_punctuation(c) != punct[c]) report(c, "punctuation");
    if (is_bert_whitespace(c) != space[c]) report(c, "whitespace");
  }
  EXPECT_EQ(bad, 0u) << "code points differ from HF tokenizers " << ref.at("tokenizers_version");
}

}  // namespace
}  // namespace trellis
