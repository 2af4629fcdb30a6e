#include "trainer/text/bert_tokenizer.h"

#include <algorithm>
#include <iterator>

#include "common/error.h"

namespace trellis {
namespace {

int32_t require_token(const Vocab& vocab, const std::string& token, const char* role) {
  if (auto id = vocab.find(token)) return *id;
  throw Error(std::string("Tokenizer ") + role + " token '" + token + "' is not in the vocabulary.");
}

}  // namespace

std::pair<size_t, size_t> longest_first_lengths(size_t len_a, size_t len_b, size_t budget) {
  if (len_a + len_b <= budget) return {len_a, len_b};
  // tokenizers/src/utils/truncation.rs, TruncationStrategy::LongestFirst.
  size_t n1 = len_a, n2 = len_b;
  const bool swap = n1 > n2;  // make n1 the shorter
  if (swap) std::swap(n1, n2);
  n2 = n1 > budget ? n1 : std::max(n1, budget - n1);
  if (n1 + n2 > budget) {
    n1 = budget / 2;
    n2 = n1 + budget % 2;  // the longer sequence (the second one on a tie) gets the odd id
  }
  if (swap) std::swap(n1, n2);
  return {std::min(len_a, n1), std::min(len_b, n2)};
}

BertTokenizer::BertTokenizer(Vocab vocab, TokenizerOptions options)
    : vocab_(std::move(vocab)),
      options_(std::move(options)),
      normalizer_(BertNormalizerOptions{.clean_text = true,
                                        .handle_chinese_chars = options_.handle_chinese_chars,
                                        .strip_accents = options_.strip_accents.value_or(options_.lowercase),
                                        .lowercase = options_.lowercase}),
      pad_id_(require_token(vocab_, options_.pad_token, "padding")),
      cls_id_(require_token(vocab_, options_.cls_token, "classification")),
      sep_id_(require_token(vocab_, options_.sep_token, "separator")),
      unk_id_(require_token(vocab_, options_.unk_token, "unknown")) {
  if (options_.max_input_chars_per_word == 0) {
    throw Error("Tokenizer max_input_chars_per_word must be positive.");
  }
  if (!options_.split_special_tokens) {
    for (const std::string* t :
         {&options_.pad_token, &options_.unk_token, &options_.cls_token, &options_.sep_token, &options_.mask_token}) {
      auto id = vocab_.find(*t);
      if (id && !t->empty()) {
        specials_.push_back({*t, *id});
        special_first_bytes_.set(static_cast<unsigned char>(t->front()));
      }
    }
  }
}

void BertTokenizer::append_wordpiece_ids(std::u32string_view word, std::vector<int32_t>& ids) const {
  if (word.size() > options_.max_input_chars_per_word) {
    ids.push_back(unk_id_);
    return;
  }
  // UTF-8 of the word and the byte offset where each code point starts.
  std::string utf8;
  utf8.reserve(word.size() * 2);
  size_t stack_offsets[128];
  std::vector<size_t> heap_offsets;
  size_t* off = stack_offsets;
  if (word.size() + 1 > std::size(stack_offsets)) {
    heap_offsets.resize(word.size() + 1);
    off = heap_offsets.data();
  }
  for (size_t i = 0; i < word.size(); ++i) {
    off[i] = utf8.size();
    append_utf8(word[i], utf8);
  }
  off[word.size()] = utf8.size();

  // Greedy longest match from the left; pieces after the first carry the "##" prefix.
  std::string piece;  // "##" + rest of the word, for pieces after the first
  const size_t first_new = ids.size();
  for (size_t start = 0; start < word.size();) {
    std::string_view rest = utf8;
    size_t prefix = 0;
    if (start > 0) {
      piece.assign("##");
      piece.append(utf8, off[start]);
      rest = piece;
      prefix = 2;
    }
    size_t end = word.size();
    std::optional<int32_t> id;
    for (; end > start; --end) {
      id = vocab_.find(rest.substr(0, prefix + off[end] - off[start]));
      if (id) break;
    }
    if (!id) {  // some part cannot be matched: the whole word becomes one [UNK]
      ids.resize(first_new);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(*id);
    start = end;
  }
}

void BertTokenizer::append_text_ids(std::string_view text, std::vector<int32_t>& ids) const {
  std::u32string normalized;
  auto add_plain = [&](std::string_view plain) {
    if (plain.empty()) return;
    normalizer_.normalize(plain, normalized);
    // BertPreTokenizer: split on whitespace (dropped) and around each punctuation character.
    const std::u32string_view s = normalized;
    size_t word_start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      const char32_t c = s[i];
      const bool ws = is_bert_whitespace(c);
      if (!ws && !is_bert_punctuation(c)) continue;
      if (i > word_start) append_wordpiece_ids(s.substr(word_start, i - word_start), ids);
      if (!ws) append_wordpiece_ids(s.substr(i, 1), ids);
      word_start = i + 1;
    }
    if (s.size() > word_start) append_wordpiece_ids(s.substr(word_start), ids);
  };

  // Special tokens written in the text are cut out first, leftmost-longest, like tokenizers'
  // AddedVocabulary does for special tokens that are not normalised.
  size_t plain_start = 0;
  for (size_t pos = 0; !specials_.empty() && pos < text.size();) {
    if (!special_first_bytes_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const Special* best = nullptr;
    for (const Special& sp : specials_) {
      if (text.compare(pos, sp.text.size(), sp.text) == 0 && (!best || sp.text.size() > best->text.size())) {
        best = &sp;
      }
    }
    if (!best) {
      ++pos;
      continue;
    }
    add_plain(text.substr(plain_start, pos - plain_start));
    ids.push_back(best->id);
    pos += best->text.size();
    plain_start = pos;
  }
  add_plain(text.substr(plain_start));
}

std::vector<int32_t> BertTokenizer::tokenize_ids(std::string_view utf8_text) const {
  std::vector<int32_t> ids;
  ids.reserve(utf8_text.size() / 3 + 4);
  append_text_ids(utf8_text, ids);
  return ids;
}

std::vector<std::string> BertTokenizer::tokenize(std::string_view utf8_text) const {
  std::vector<std::string> tokens;
  for (int32_t id : tokenize_ids(utf8_text)) tokens.push_back(vocab_.token(id));
  return tokens;
}

Encoding BertTokenizer::encode(std::string_view text, std::optional<std::string_view> text_pair,
                               size_t max_seq_len) const {
  const bool has_pair = text_pair.has_value();
  const size_t n_specials = has_pair ? 3 : 2;
  if (max_seq_len < n_specials) {
    throw Error("max_seq_len " + std::to_string(max_seq_len) + " leaves no room for the " + std::to_string(n_specials) +
                " special tokens of " + (has_pair ? "a text pair" : "a single text") + ".");
  }
  std::vector<int32_t> a = tokenize_ids(text);
  std::vector<int32_t> b;
  if (has_pair) b = tokenize_ids(*text_pair);
  const auto [keep_a, keep_b] = longest_first_lengths(a.size(), b.size(), max_seq_len - n_specials);
  a.resize(keep_a);
  b.resize(keep_b);

  Encoding enc;
  enc.input_ids.reserve(a.size() + b.size() + n_specials);
  enc.input_ids.push_back(cls_id_);
  enc.input_ids.insert(enc.input_ids.end(), a.begin(), a.end());
  enc.input_ids.push_back(sep_id_);
  enc.token_type_ids.assign(enc.input_ids.size(), 0);
  if (has_pair) {
    enc.input_ids.insert(enc.input_ids.end(), b.begin(), b.end());
    enc.input_ids.push_back(sep_id_);
    enc.token_type_ids.resize(enc.input_ids.size(), 1);
  }
  return enc;
}

}  // namespace trellis
