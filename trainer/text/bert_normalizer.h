#pragma once
// BERT text normalisation as HF tokenizers (Rust) does it, plus the character classes its
// pre-tokenizer uses. Works on UTF-32 code points so later stages need no re-decoding.
// Contract: BertNormalizer is immutable; its const methods and the free functions are thread-safe.
#include <string>
#include <string_view>

namespace trellis {

struct BertNormalizerOptions {
  bool clean_text = true;            // drop U+0000, U+FFFD, Cc/Cf/Co but \t\n\r; whitespace -> ' '
  bool handle_chinese_chars = true;  // surround CJK ideographs with spaces
  bool strip_accents = true;         // NFD, then drop nonspacing marks (Mn)
  bool lowercase = true;             // per-character full lowercase (U+0130 -> "i\u0307")
};

class BertNormalizer {
 public:
  explicit BertNormalizer(BertNormalizerOptions options = {}) : options_(options) {}

  // Decodes utf8 (invalid bytes become U+FFFD, see decode_utf8) and writes the normalised code
  // points to out, replacing its contents. Steps run in HF's order: clean, CJK, accents, lowercase.
  void normalize(std::string_view utf8, std::u32string& out) const;
  std::u32string normalize(std::string_view utf8) const;

  const BertNormalizerOptions& options() const { return options_; }

 private:
  BertNormalizerOptions options_;
};

// Character classes, defined exactly as HF tokenizers defines them. HF takes general categories
// from the Rust crate unicode_categories, whose tables predate Unicode 9; code points assigned
// later count as unassigned there, and these functions follow HF (see bert_normalizer.cpp).
bool is_bert_whitespace(char32_t c);       // Rust char::is_whitespace (Unicode White_Space)
bool is_bert_control(char32_t c);          // Cc, Cf or Co, except \t \n \r: removed by clean_text
bool is_bert_punctuation(char32_t c);      // ASCII punctuation (incl. $+<=>^`|~) or any P* category
bool is_bert_chinese_char(char32_t c);     // the CJK ideograph blocks HF pads with spaces
bool is_bert_nonspacing_mark(char32_t c);  // Mn: removed by strip_accents

// UTF-8 <-> code points. decode_utf8 replaces each byte that does not start a valid, shortest-form
// UTF-8 sequence of a Unicode scalar value with U+FFFD (which clean_text then removes), so invalid
// input never throws. Appends to out.
void decode_utf8(std::string_view utf8, std::u32string& out);
void append_utf8(char32_t c, std::string& out);

}  // namespace trellis
