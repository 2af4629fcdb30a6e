#include "trainer/model/bert_config.h"

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "common/error.h"

namespace trellis {
namespace {

int64_t positive_int(const nlohmann::json& j, const std::string& file, const char* field, bool required,
                     int64_t fallback) {
  if (!j.contains(field)) {
    if (required) throw Error(file + ": field '" + field + "' is missing");
    return fallback;
  }
  const auto& v = j.at(field);
  if (!v.is_number_integer() || v.get<int64_t>() <= 0)
    throw Error(file + ": field '" + field + "' must be a positive integer");
  return v.get<int64_t>();
}

double number_in(const nlohmann::json& j, const std::string& file, const char* field, double fallback, double lo,
                 double hi) {
  if (!j.contains(field)) return fallback;
  const auto& v = j.at(field);
  if (!v.is_number() || v.get<double>() < lo || v.get<double>() > hi)
    throw Error(file + ": field '" + field + "' must be a number in [" + std::to_string(lo) + ", " +
                std::to_string(hi) + "]");
  return v.get<double>();
}

}  // namespace

BertConfig load_bert_config(const std::filesystem::path& config_json) {
  const std::string file = config_json.string();
  const nlohmann::json j = read_json_file(config_json);
  if (!j.is_object()) throw Error(file + ": expected a JSON object");
  if (j.contains("model_type") && j["model_type"] != "bert")
    throw Error(file + ": field 'model_type' is " + j["model_type"].dump() + ", only \"bert\" is supported");
  if (j.contains("position_embedding_type") && j["position_embedding_type"] != "absolute")
    throw Error(file + ": field 'position_embedding_type' must be \"absolute\"");
  BertConfig c;
  c.vocab_size = positive_int(j, file, "vocab_size", true, 0);
  c.hidden_size = positive_int(j, file, "hidden_size", true, 0);
  c.num_hidden_layers = positive_int(j, file, "num_hidden_layers", true, 0);
  c.num_attention_heads = positive_int(j, file, "num_attention_heads", true, 0);
  c.intermediate_size = positive_int(j, file, "intermediate_size", true, 0);
  c.max_position_embeddings = positive_int(j, file, "max_position_embeddings", false, 512);
  c.type_vocab_size = positive_int(j, file, "type_vocab_size", false, 2);
  c.layer_norm_eps = number_in(j, file, "layer_norm_eps", 1e-12, 0.0, 1.0);
  c.hidden_dropout_prob = number_in(j, file, "hidden_dropout_prob", 0.1, 0.0, 0.99);
  c.attention_probs_dropout_prob = number_in(j, file, "attention_probs_dropout_prob", 0.1, 0.0, 0.99);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer())
    c.pad_token_id = j["pad_token_id"].get<int64_t>();
  if (j.contains("hidden_act")) {
    if (!j["hidden_act"].is_string()) throw Error(file + ": field 'hidden_act' must be a string");
    c.hidden_act = j["hidden_act"].get<std::string>();
    if (c.hidden_act != "gelu" && c.hidden_act != "gelu_new" && c.hidden_act != "relu")
      throw Error(file + ": field 'hidden_act' is \"" + c.hidden_act + "\"; supported: gelu, gelu_new, relu");
  }
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error(file + ": 'hidden_size' (" + std::to_string(c.hidden_size) +
                ") is not divisible by 'num_attention_heads' (" + std::to_string(c.num_attention_heads) + ")");
  return c;
}

}  // namespace trellis
