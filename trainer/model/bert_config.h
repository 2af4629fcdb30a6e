#pragma once
// BERT hyperparameters read from a Hugging Face `config.json`.
#include <cstdint>
#include <filesystem>
#include <string>

namespace trellis {

struct BertConfig {
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::string hidden_act = "gelu";  // gelu | gelu_new | relu
  int64_t pad_token_id = 0;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
};

// Reads and validates config.json (model_type bert, positive sizes, hidden divisible by heads,
// absolute position embeddings). Throws trellis::Error naming the file and the field.
BertConfig load_bert_config(const std::filesystem::path& config_json);

}  // namespace trellis
