#pragma once
// BERT WordPiece tokenizer, id-for-id identical to HF's BertTokenizerFast (Rust tokenizers:
// special-token matching, BertNormalizer, BertPreTokenizer, WordPiece, BertProcessing and
// LongestFirst truncation). tests/unit/trainer/text/tokenizer_test.cpp checks the parity.
// Contract: immutable after construction; all const methods are thread-safe. Owns its Vocab.
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "trainer/text/bert_normalizer.h"
#include "trainer/text/vocab.h"

namespace trellis {

struct TokenizerOptions {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // default: follows lowercase (as HF's strip_accents=None)
  bool handle_chinese_chars = true;
  size_t max_input_chars_per_word = 100;  // longer words (in code points) become one [UNK]
  std::string unk_token = "[UNK]", cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]";
  std::string mask_token = "[MASK]";  // optional: only used if the vocab has it
  // false (HF's default): a special token written in the raw text ("a [SEP] b") is kept whole and
  // maps to its id, matched case-sensitively anywhere, before normalisation. true: it is ordinary text.
  bool split_special_tokens = false;
};

struct Encoding {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> token_type_ids;
};

class BertTokenizer {
 public:
  // Throws trellis::Error if unk/cls/sep/pad tokens are missing from the vocab.
  explicit BertTokenizer(Vocab vocab, TokenizerOptions options = {});

  // Wordpieces / their ids, without [CLS]/[SEP]. Invalid UTF-8 bytes are dropped (decoded as
  // U+FFFD, which clean_text removes) rather than rejected.
  std::vector<std::string> tokenize(std::string_view utf8_text) const;
  std::vector<int32_t> tokenize_ids(std::string_view utf8_text) const;

  // [CLS] a [SEP] (b [SEP]); token type 0 for "[CLS] a [SEP]", 1 for "b [SEP]". Truncates to
  // max_seq_len ids in total (specials included) with tokenizers' LongestFirst rule, removing ids
  // from the end of each sequence. An empty text_pair is still a pair ("[CLS] a [SEP] [SEP]"), as
  // in tokenizers and transformers' batch calls (its single-text call drops it: `if text_pair`).
  // Throws trellis::Error if max_seq_len < the number of specials (2, or 3 with a pair).
  Encoding encode(std::string_view text, std::optional<std::string_view> text_pair, size_t max_seq_len) const;

  const Vocab& vocab() const { return vocab_; }
  const TokenizerOptions& options() const { return options_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t unk_id() const { return unk_id_; }

 private:
  struct Special {
    std::string text;
    int32_t id;
  };
  void append_text_ids(std::string_view text, std::vector<int32_t>& ids) const;
  void append_wordpiece_ids(std::u32string_view word, std::vector<int32_t>& ids) const;

  Vocab vocab_;
  TokenizerOptions options_;
  BertNormalizer normalizer_;
  std::vector<Special> specials_;  // matched in raw text unless split_special_tokens
  std::bitset<256> special_first_bytes_;
  int32_t pad_id_, cls_id_, sep_id_, unk_id_;
};

// tokenizers' LongestFirst rule: the lengths (<= len_a, len_b) to keep so that they sum to at most
// budget. Exposed for tests.
std::pair<size_t, size_t> longest_first_lengths(size_t len_a, size_t len_b, size_t budget);

}  // namespace trellis
