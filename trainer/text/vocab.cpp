#include "trainer/text/vocab.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <limits>

#include "common/error.h"

namespace trellis {

namespace {

uint64_t hash_of(std::string_view s) { return std::hash<std::string_view>{}(s); }

}  // namespace

std::optional<size_t> Vocab::index() {
  size_t capacity = 16;
  while (capacity < 2 * tokens_.size()) capacity *= 2;
  slots_.assign(capacity, Slot{0, -1});
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const uint64_t h = hash_of(tokens_[i]);
    size_t s = h & (capacity - 1);
    for (; slots_[s].id >= 0; s = (s + 1) & (capacity - 1)) {
      if (slots_[s].hash == h && tokens_[static_cast<size_t>(slots_[s].id)] == tokens_[i]) return i;
    }
    slots_[s] = Slot{h, static_cast<int32_t>(i)};
    max_token_bytes_ = std::max(max_token_bytes_, tokens_[i].size());
  }
  return std::nullopt;
}

Vocab Vocab::load(const std::filesystem::path& vocab_txt) {
  std::ifstream in(vocab_txt, std::ios::binary);
  if (!in) throw Error("Cannot open vocabulary file '" + vocab_txt.string() + "'.");
  Vocab vocab;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.tokens_.push_back(std::move(line));
    line.clear();
  }
  if (in.bad()) throw Error("Failed reading vocabulary file '" + vocab_txt.string() + "'.");
  if (vocab.tokens_.empty()) throw Error("Vocabulary file '" + vocab_txt.string() + "' is empty.");
  if (vocab.tokens_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error("Vocabulary file '" + vocab_txt.string() + "' has too many lines.");
  }
  if (auto dup = vocab.index()) {
    const std::string& token = vocab.tokens_[*dup];
    const size_t first = static_cast<size_t>(*vocab.find(token));
    throw Error("Vocabulary file '" + vocab_txt.string() + "' line " + std::to_string(*dup + 1) + ": token '" + token +
                "' duplicates line " + std::to_string(first + 1) + ".");
  }
  return vocab;
}

Vocab Vocab::from_tokens(std::vector<std::string> tokens) {
  if (tokens.empty()) throw Error("Vocabulary has no tokens.");
  Vocab vocab;
  vocab.tokens_ = std::move(tokens);
  if (auto dup = vocab.index()) {
    throw Error("Vocabulary token '" + vocab.tokens_[*dup] + "' at index " + std::to_string(*dup) + " is a duplicate.");
  }
  return vocab;
}

std::optional<int32_t> Vocab::find(std::string_view token) const {
  if (token.size() > max_token_bytes_) return std::nullopt;
  const uint64_t h = hash_of(token);
  const size_t mask = slots_.size() - 1;
  for (size_t s = h & mask; slots_[s].id >= 0; s = (s + 1) & mask) {
    if (slots_[s].hash == h && tokens_[static_cast<size_t>(slots_[s].id)] == token) return slots_[s].id;
  }
  return std::nullopt;
}

const std::string& Vocab::token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= tokens_.size()) {
    throw Error("Token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(tokens_.size()) +
                " tokens.");
  }
  return tokens_[static_cast<size_t>(id)];
}

}  // namespace trellis
