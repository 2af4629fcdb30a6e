#include "trainer/model/encoder.h"

#include <ATen/ATen.h>

#include "trainer/model/backbone.h"
#include "trainer/model/fast_dropout.h"
#include "trainer/model/task_params.h"
#include "common/error.h"

namespace trellis {
namespace {

class Weights {
 public:
  Weights(const Backbone& backbone, const TaskParams* task) : backbone_(backbone), task_(task) {}
  const at::Tensor& operator()(const std::string& name) const {
    if (task_)
      if (const at::Tensor* t = task_->find(name)) return *t;
    return backbone_.weight(name);
  }

 private:
  const Backbone& backbone_;
  const TaskParams* task_;
};

// Layer i's stacked query/key/value projection ([3d, d], [3d]): the backbone's precomputed one,
// unless the task owns its own attention weights (method full).
std::pair<at::Tensor, at::Tensor> qkv_projection(const Backbone& backbone, const TaskParams* task, const Weights& w,
                                                 int64_t layer) {
  const std::string s = "encoder.layer." + std::to_string(layer) + ".attention.self.";
  if (!task || !task->find(s + "query.weight"))
    return {backbone.fused_qkv_weight(layer), backbone.fused_qkv_bias(layer)};
  return {at::cat({w(s + "query.weight"), w(s + "key.weight"), w(s + "value.weight")}),
          at::cat({w(s + "query.bias"), w(s + "key.bias"), w(s + "value.bias")})};
}

at::Tensor activation(const at::Tensor& x, Nonlinearity f) {
  switch (f) {
    case Nonlinearity::gelu: return at::gelu(x);
    case Nonlinearity::relu: return at::relu(x);
    case Nonlinearity::tanh: return at::tanh(x);
    case Nonlinearity::swish: return at::silu(x);
  }
  throw Error("unknown nonlinearity");
}

at::Tensor ffn_activation(const at::Tensor& x, const std::string& act) {
  if (act == "gelu") return at::gelu(x);
  if (act == "gelu_new") return at::gelu(x, "tanh");
  return at::relu(x);
}

at::Tensor linear(const at::Tensor& x, const Weights& w, const std::string& prefix) {
  return at::linear(x, w(prefix + "weight"), w(prefix + "bias"));
}

// x + Up(f(Down(x))): the Houlsby adapter with its internal skip connection.
at::Tensor adapter(const at::Tensor& x, const Weights& w, const std::string& prefix, Nonlinearity f) {
  at::Tensor h = activation(linear(x, w, prefix + "adapter_down."), f);
  return x + linear(h, w, prefix + "adapter_up.");
}

at::Tensor layer_norm(const at::Tensor& x, const Weights& w, const std::string& prefix, double eps) {
  return at::layer_norm(x, {x.size(-1)}, w(prefix + "weight"), w(prefix + "bias"), eps);
}

at::Tensor maybe_dropout(const at::Tensor& x, double p, bool training) {
  return (training && p > 0) ? fast_dropout(x, p) : x;
}

// Runs the encoder. With cls_only, the last layer computes only what the [CLS] rows need
// (keys and values of every token, everything else for [CLS] alone) and returns [B, d]:
// the same values as the full pass's [CLS] rows, with ~14% fewer FLOPs for a 6-layer model.
at::Tensor run_encoder(const Backbone& backbone, const TaskParams* task, const TokenBatch& batch,
                       const ForwardOptions& opt, bool cls_only) {
  const BertConfig& c = backbone.config();
  const Weights w(backbone, task);
  const bool adapters = task && task->has_adapters();
  const Nonlinearity f = task ? task->adapter().nonlinearity : Nonlinearity::gelu;
  const double hp = opt.hidden_dropout, ap = opt.training ? opt.attention_dropout : 0.0;
  const int64_t B = batch.batch_size, L = batch.max_len, d = c.hidden_size, H = c.num_attention_heads;
  if (batch.max_len > c.max_position_embeddings)
    throw Error("a sequence of " + std::to_string(batch.max_len) + " tokens exceeds the backbone's " +
                std::to_string(c.max_position_embeddings) + " positions");

  at::Tensor h = at::embedding(w("embeddings.word_embeddings.weight"), batch.input_ids) +
                 at::embedding(w("embeddings.position_embeddings.weight"), batch.position_ids) +
                 at::embedding(w("embeddings.token_type_embeddings.weight"), batch.token_type_ids);
  h = maybe_dropout(layer_norm(h, w, "embeddings.LayerNorm.", c.layer_norm_eps), hp, opt.training);

  std::optional<at::Tensor> mask;
  if (!batch.all_same_length) mask = batch.attention_mask;
  // [T, n] packed rows -> [B, L, n] padded (zeros at padding).
  auto to_padded = [&](const at::Tensor& x) {
    at::Tensor padded =
        batch.all_same_length ? x : at::zeros({B * L, x.size(1)}, x.options()).index_copy(0, batch.pad_index, x);
    return padded.view({B, L, x.size(1)});
  };
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    const auto [wqkv, bqkv] = qkv_projection(backbone, task, w, i);
    const bool last_cls = cls_only && i == c.num_hidden_layers - 1;
    at::Tensor ctx;
    if (!last_cls) {
      // One fused QKV projection on packed tokens, scattered to [B, L] for the attention core.
      at::Tensor qkv = to_padded(at::linear(h, wqkv, bqkv)).view({B, L, 3, H, d / H}).permute({2, 0, 3, 1, 4});
      ctx = at::scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], mask, ap, false);
      ctx = ctx.transpose(1, 2).reshape({B * L, d});
      if (!batch.all_same_length) ctx = ctx.index_select(0, batch.pad_index);
    } else {
      // Keys and values of every token; the query, and all that follows, of [CLS] only.
      at::Tensor kv = to_padded(at::linear(h, wqkv.narrow(0, d, 2 * d), bqkv.narrow(0, d, 2 * d)))
                          .view({B, L, 2, H, d / H})
                          .permute({2, 0, 3, 1, 4});
      h = h.index_select(0, batch.first_token);  // [B, d]
      at::Tensor q = at::linear(h, wqkv.narrow(0, 0, d), bqkv.narrow(0, 0, d)).view({B, 1, H, d / H}).transpose(1, 2);
      ctx = at::scaled_dot_product_attention(q, kv[0], kv[1], mask, ap, false).reshape({B, d});
    }

    at::Tensor a = maybe_dropout(linear(ctx, w, p + "attention.output.dense."), hp, opt.training);
    if (adapters) a = adapter(a, w, adapter_prefix(i, true), f);
    h = layer_norm(a + h, w, p + "attention.output.LayerNorm.", c.layer_norm_eps);

    at::Tensor x = ffn_activation(linear(h, w, p + "intermediate.dense."), c.hidden_act);
    x = maybe_dropout(linear(x, w, p + "output.dense."), hp, opt.training);
    if (adapters) x = adapter(x, w, adapter_prefix(i, false), f);
    h = layer_norm(x + h, w, p + "output.LayerNorm.", c.layer_norm_eps);
  }
  return (cls_only && c.num_hidden_layers == 0) ? h.index_select(0, batch.first_token) : h;
}

}  // namespace

at::Tensor encode(const Backbone& backbone, const TaskParams* task, const TokenBatch& batch,
                  const ForwardOptions& opt) {
  return run_encoder(backbone, task, batch, opt, false);
}

at::Tensor encode_cls(const Backbone& backbone, const TaskParams* task, const TokenBatch& batch,
                      const ForwardOptions& opt) {
  return run_encoder(backbone, task, batch, opt, true);
}

at::Tensor task_outputs(const Backbone& backbone, const TaskParams& task, const TokenBatch& batch,
                        const ForwardOptions& opt) {
  at::Tensor cls = maybe_dropout(encode_cls(backbone, &task, batch, opt), opt.hidden_dropout, opt.training);
  return at::linear(cls, *task.find("classifier.weight"), *task.find("classifier.bias"));
}

}  // namespace trellis
