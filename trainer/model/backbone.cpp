#include "trainer/model/backbone.h"

#include <array>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "common/files.h"
#include "trainer/io/safetensors.h"
#include "common/sha256.h"
#include "trainer/model/tensor_io.h"
#include "common/error.h"

namespace trellis {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> bert_weight_shapes(const BertConfig& c) {
  const int64_t d = c.hidden_size, f = c.intermediate_size;
  std::vector<std::pair<std::string, std::vector<int64_t>>> s = {
      {"embeddings.word_embeddings.weight", {c.vocab_size, d}},
      {"embeddings.position_embeddings.weight", {c.max_position_embeddings, d}},
      {"embeddings.token_type_embeddings.weight", {c.type_vocab_size, d}},
      {"embeddings.LayerNorm.weight", {d}},
      {"embeddings.LayerNorm.bias", {d}},
  };
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    for (const char* qkv : {"query", "key", "value"}) {
      s.push_back({p + "attention.self." + qkv + ".weight", {d, d}});
      s.push_back({p + "attention.self." + qkv + ".bias", {d}});
    }
    s.push_back({p + "attention.output.dense.weight", {d, d}});
    s.push_back({p + "attention.output.dense.bias", {d}});
    s.push_back({p + "attention.output.LayerNorm.weight", {d}});
    s.push_back({p + "attention.output.LayerNorm.bias", {d}});
    s.push_back({p + "intermediate.dense.weight", {f, d}});
    s.push_back({p + "intermediate.dense.bias", {f}});
    s.push_back({p + "output.dense.weight", {d, f}});
    s.push_back({p + "output.dense.bias", {d}});
    s.push_back({p + "output.LayerNorm.weight", {d}});
    s.push_back({p + "output.LayerNorm.bias", {d}});
  }
  return s;
}

bool is_layer_norm_tensor(const std::string& name) { return name.find("LayerNorm.") != std::string::npos; }

Backbone::Backbone(std::string name, BertConfig config, std::shared_ptr<const BertTokenizer> tokenizer,
                   std::map<std::string, at::Tensor> weights, std::string weights_sha256)
    : name_(std::move(name)),
      config_(config),
      tokenizer_(std::move(tokenizer)),
      weights_(std::move(weights)),
      weights_sha256_(std::move(weights_sha256)) {
  for (const auto& [n, shape] : bert_weight_shapes(config_)) {
    auto it = weights_.find(n);
    if (it == weights_.end()) throw Error("backbone '" + name_ + "': tensor '" + n + "' is missing");
    if (it->second.sizes() != at::IntArrayRef(shape))
      throw Error("backbone '" + name_ + "': tensor '" + n + "' has shape " + shape_str(it->second.sizes()) +
                  ", expected " + shape_str(shape));
    it->second = it->second.to(at::kFloat).contiguous();
    it->second.set_requires_grad(false);
  }
  // Fuse each layer's query/key/value into one [3d, d] projection (one GEMM per forward); the
  // named tensors become views of it, so nothing is stored twice.
  static constexpr std::array<const char*, 3> kProjections = {"query.", "key.", "value."};
  const int64_t d = config_.hidden_size;
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    const std::string s = "encoder.layer." + std::to_string(i) + ".attention.self.";
    for (const std::string part : {"weight", "bias"}) {
      std::vector<at::Tensor> pieces;
      for (const char* n : kProjections) pieces.push_back(weights_.at(s + n + part));
      at::Tensor fused = at::cat(pieces);
      for (size_t k = 0; k < kProjections.size(); ++k)
        weights_[s + kProjections[k] + part] = fused.narrow(0, static_cast<int64_t>(k) * d, d);
      (part == "weight" ? fused_qkv_weight_ : fused_qkv_bias_).push_back(fused);
    }
  }
  if (static_cast<int64_t>(tokenizer_->vocab().size()) != config_.vocab_size)
    throw Error("backbone '" + name_ + "': the vocab has " + std::to_string(tokenizer_->vocab().size()) +
                " tokens but the embedding matrix has " + std::to_string(config_.vocab_size) + " rows");
}

const at::Tensor& Backbone::weight(const std::string& name) const {
  auto it = weights_.find(name);
  if (it == weights_.end()) throw Error("backbone '" + name_ + "' has no tensor '" + name + "'");
  return it->second;
}

int64_t Backbone::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : weights_) n += t.numel();
  return n;
}

at::Device Backbone::device() const { return weights_.begin()->second.device(); }

std::shared_ptr<const Backbone> Backbone::to(const at::Device& device) const {
  std::map<std::string, at::Tensor> moved;
  // Views of the fused QKV become separate copies here; the constructor fuses them again.
  for (const auto& [n, t] : weights_) moved.emplace(n, t.to(device, /*non_blocking=*/false, /*copy=*/true));
  return std::make_shared<const Backbone>(name_, config_, tokenizer_, std::move(moved), weights_sha256_);
}

std::shared_ptr<const Backbone> Backbone::load(const BackboneDescriptor& desc) {
  BertConfig config = load_bert_config(desc.config);
  Vocab vocab = Vocab::load(desc.vocab);
  if (static_cast<int64_t>(vocab.size()) != config.vocab_size)
    throw Error(desc.vocab.string() + ": the vocab has " + std::to_string(vocab.size()) + " tokens but " +
                desc.config.string() + " says vocab_size " + std::to_string(config.vocab_size));
  TokenizerOptions topts;
  topts.lowercase = desc.lowercase;
  auto tokenizer = std::make_shared<const BertTokenizer>(std::move(vocab), topts);

  const std::string file = desc.weights.string();
  std::vector<std::byte> bytes = read_binary_file(desc.weights);  // read once: hashed and parsed
  const std::string sha = sha256_hex(bytes);
  if (desc.weights_sha256 && *desc.weights_sha256 != sha)
    throw Error(file + ": sha256 is " + sha + " but the backbone descriptor pins " + *desc.weights_sha256);
  const SafetensorsFile st = SafetensorsFile::parse(std::move(bytes), file);

  // Accept both bare names ("embeddings...") and a "bert." prefix (BertFor* checkpoints).
  std::map<std::string, at::Tensor> weights;
  for (const auto& [name, shape] : bert_weight_shapes(config)) {
    const TensorView* v = st.find(name);
    if (!v) v = st.find("bert." + name);
    if (!v) throw Error(file + ": tensor '" + name + "' is missing");
    if (v->dtype != DType::F32 && v->dtype != DType::F16 && v->dtype != DType::BF16)
      throw Error(file + ": tensor '" + name + "' has dtype " + dtype_name(v->dtype) + ", expected F32, F16 or BF16");
    if (v->shape != shape)
      throw Error(file + ": tensor '" + name + "' has shape " + shape_str(v->shape) + ", expected " + shape_str(shape) +
                  " (from " + desc.config.string() + ")");
    weights.emplace(name, to_tensor(*v));
  }
  return std::make_shared<const Backbone>(desc.name, config, std::move(tokenizer), std::move(weights), sha);
}

std::shared_ptr<const Backbone> load_backbone(const std::filesystem::path& config_dir, const std::string& name) {
  return Backbone::load(find_backbone(name, {config_dir}));
}

std::shared_ptr<const Backbone> make_random_backbone(const BertConfig& config, Vocab vocab, uint64_t seed,
                                                     std::string name) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::map<std::string, at::Tensor> weights;
  for (const auto& [n, shape] : bert_weight_shapes(config)) {
    at::Tensor t;
    if (is_layer_norm_tensor(n)) t = n.ends_with(".weight") ? at::ones(shape) : at::zeros(shape);
    else if (n.ends_with(".bias")) t = at::zeros(shape);
    else if (n.starts_with("embeddings.")) t = at::normal(0.0, 1.0, shape, gen);
    else  // variance-preserving: outputs depend on every token, as a pretrained encoder's do
      t = at::normal(0.0, 1.0 / std::sqrt(static_cast<double>(shape[1])), shape, gen);
    weights.emplace(n, t);
  }
  auto tokenizer = std::make_shared<const BertTokenizer>(std::move(vocab));
  return std::make_shared<const Backbone>(std::move(name), config, std::move(tokenizer), std::move(weights),
                                          "random-seed-" + std::to_string(seed));
}

}  // namespace trellis
