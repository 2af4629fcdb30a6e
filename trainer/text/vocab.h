#pragma once
// WordPiece vocabulary: token string <-> id, id = position in the list (line index of vocab.txt).
// Contract: immutable after construction; all const methods are thread-safe. Owns its strings.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trellis {

class Vocab {
 public:
  // Reads a BERT vocab.txt: one token per line, id = 0-based line index. Line endings "\n" or
  // "\r\n" are removed; everything else on the line (spaces included) is part of the token, as in
  // HF's load_vocab. Throws trellis::Error naming the file (and line) if the file cannot be read,
  // is empty, or holds a token twice.
  static Vocab load(const std::filesystem::path& vocab_txt);
  // Builds a vocabulary from tokens in id order. Throws trellis::Error on duplicates or no tokens.
  static Vocab from_tokens(std::vector<std::string> tokens);

  std::optional<int32_t> find(std::string_view token) const;
  // Throws trellis::Error if id is out of range.
  const std::string& token(int32_t id) const;
  size_t size() const { return tokens_.size(); }

  // Length in bytes of the longest token: no longer string can be found.
  size_t max_token_bytes() const { return max_token_bytes_; }

 private:
  struct Slot {
    uint64_t hash;
    int32_t id;  // -1: empty
  };
  Vocab() = default;
  // Builds the hash index over tokens_; on a duplicate returns the index of its second occurrence.
  std::optional<size_t> index();

  std::vector<std::string> tokens_;
  std::vector<Slot> slots_;  // open addressing, linear probing, power-of-two size, load <= 1/2
  size_t max_token_bytes_ = 0;
};

}  // namespace trellis
