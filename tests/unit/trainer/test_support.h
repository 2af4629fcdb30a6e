#pragma once
// Shared helpers for the LibTorch unit tests: a tiny random backbone and a synthetic task.
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "trainer/data/dataset.h"
#include "trainer/model/backbone.h"

namespace trellis::testing {

inline std::filesystem::path source_dir() { return TRELLIS_SOURCE_DIR; }
inline std::filesystem::path testdata_dir() {
  const char* env = std::getenv("TRELLIS_TESTDATA_DIR");
  return env ? std::filesystem::path(env) : std::filesystem::path(TRELLIS_TESTDATA_DIR);
}
inline std::filesystem::path real_backbone_dir() { return source_dir() / "assets/backbones/all-MiniLM-L6-v2"; }

// The real backbone's descriptor (files set up by cluster/setup.sh; may be missing).
inline BackboneDescriptor real_backbone_descriptor() {
  BackboneDescriptor desc;
  desc.name = "all-MiniLM-L6-v2";
  desc.dir = real_backbone_dir();
  desc.config = desc.dir / "config.json";
  desc.vocab = desc.dir / "vocab.txt";
  desc.weights = desc.dir / "model.safetensors";
  return desc;
}

inline BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 5 + 50;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 64;
  return c;
}

inline std::shared_ptr<const Backbone> tiny_backbone(uint64_t seed = 7) {
  std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 50; ++i) tokens.push_back("w" + std::to_string(i));
  return make_random_backbone(tiny_config(), Vocab::from_tokens(tokens), seed, "tiny-random");
}

// A bag-of-words sentiment task over w0..w49: "pos" sentences draw 98% of their sentiment words
// from w10..w19, "neg" ones from w20..w29; a third of the words are neutral (w30..w49).
inline std::vector<RawExample> synthetic_examples(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RawExample> out;
  for (size_t i = 0; i < n; ++i) {
    const bool positive = i % 2 == 0;
    const size_t len = 4 + rng() % 7;
    std::string text;
    for (size_t k = 0; k < len; ++k) {
      size_t w;
      if (rng() % 3 == 0) w = 30 + rng() % 20;
      else w = ((rng() % 100 < 98) == positive ? 10 : 20) + rng() % 10;
      text += (k ? " w" : "w") + std::to_string(w);
    }
    RawExample ex;
    ex.text = text;
    ex.label = positive ? "pos" : "neg";
    ex.has_label = true;
    ex.line = i + 1;
    out.push_back(ex);
  }
  return out;
}

}  // namespace trellis::testing
