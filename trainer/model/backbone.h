#pragma once
// The frozen, pretrained encoder shared by every task: config, tokenizer and weights.
// Immutable after construction; safe to share across threads and tasks (hold it by
// std::shared_ptr<const Backbone>). Its tensors never require grad and are never modified.
// All tensors live on one device (CPU as loaded); to() makes a copy on another device.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "trainer/model/bert_config.h"
#include "trainer/spec/backbone_descriptor.h"
#include "trainer/text/bert_tokenizer.h"

namespace trellis {

// The HF tensor names and shapes a BERT encoder with `config` uses (no pooler).
std::vector<std::pair<std::string, std::vector<int64_t>>> bert_weight_shapes(const BertConfig& config);
bool is_layer_norm_tensor(const std::string& name);

class Backbone {
 public:
  // Loads config.json, vocab.txt and model.safetensors named by the descriptor; checks every
  // tensor's presence, dtype and shape, the vocab size against the embedding matrix, and the
  // weights' sha256 when the descriptor pins one. Throws trellis::Error naming file and tensor.
  static std::shared_ptr<const Backbone> load(const BackboneDescriptor& descriptor);

  // Builds a backbone from tensors already in memory (tests, tiny random backbones).
  Backbone(std::string name, BertConfig config, std::shared_ptr<const BertTokenizer> tokenizer,
           std::map<std::string, at::Tensor> weights, std::string weights_sha256);

  Backbone(const Backbone&) = delete;
  Backbone& operator=(const Backbone&) = delete;

  const std::string& name() const { return name_; }
  const BertConfig& config() const { return config_; }
  const BertTokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& weights_sha256() const { return weights_sha256_; }
  // Throws trellis::Error if absent.
  const at::Tensor& weight(const std::string& name) const;
  const std::map<std::string, at::Tensor>& weights() const { return weights_; }
  int64_t num_parameters() const;
  // The device every tensor of this backbone is on.
  at::Device device() const;
  // A copy with every tensor on `device` (fused QKV rebuilt there); same name, config, sha256
  // and (shared) tokenizer. The copy is independent of this backbone.
  std::shared_ptr<const Backbone> to(const at::Device& device) const;
  // Layer i's query, key and value projections stacked: [3d, d] and [3d]. The named tensors
  // "...attention.self.{query,key,value}.*" are views into these.
  const at::Tensor& fused_qkv_weight(int64_t layer) const { return fused_qkv_weight_.at(layer); }
  const at::Tensor& fused_qkv_bias(int64_t layer) const { return fused_qkv_bias_.at(layer); }

 private:
  std::string name_;
  BertConfig config_;
  std::shared_ptr<const BertTokenizer> tokenizer_;
  std::map<std::string, at::Tensor> weights_;
  std::string weights_sha256_;
  std::vector<at::Tensor> fused_qkv_weight_, fused_qkv_bias_;
};

// Finds the descriptor backbones/<name>.json in the first of `config_dirs` that has it
// (find_backbone) and loads that backbone.
std::shared_ptr<const Backbone> load_backbone(const std::filesystem::path& config_dir, const std::string& name);

// A randomly initialised backbone (embeddings ~ N(0, 1), projections ~ N(0, 1/fan_in), LayerNorms
// at identity, biases 0) with `config` and
// `vocab`, deterministic in `seed`. For tests and synthetic benchmarks.
std::shared_ptr<const Backbone> make_random_backbone(const BertConfig& config, Vocab vocab, uint64_t seed,
                                                     std::string name = "random-bert");

}  // namespace trellis
