#include "protocol/json_fields.h"

#include <cstdint>

#include "common/error.h"

namespace trellis::protocol {

std::string string_field(const nlohmann::json& obj, const std::string& name) {
  if (!obj.contains(name)) throw Error(ErrorCode::invalid, "field '" + name + "' is missing");
  if (!obj[name].is_string()) throw Error(ErrorCode::invalid, "field '" + name + "' must be a string");
  return obj[name].get<std::string>();
}

std::optional<std::string> optional_string_field(const nlohmann::json& obj, const std::string& name) {
  if (!obj.contains(name) || obj[name].is_null()) return std::nullopt;
  return string_field(obj, name);
}

std::optional<int64_t> optional_int_field(const nlohmann::json& obj, const std::string& name, int64_t min,
                                          int64_t max) {
  if (!obj.contains(name) || obj[name].is_null()) return std::nullopt;
  const auto& v = obj[name];
  if (!v.is_number_integer()) throw Error(ErrorCode::invalid, "field '" + name + "' must be an integer");
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? INT64_MAX : v.get<int64_t>();
  if (x < min || x > max)
    throw Error(ErrorCode::invalid,
                "field '" + name + "' must be in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return x;
}

int64_t int_field(const nlohmann::json& obj, const std::string& name, int64_t min, int64_t max) {
  auto v = optional_int_field(obj, name, min, max);
  if (!v) throw Error(ErrorCode::invalid, "field '" + name + "' is missing");
  return *v;
}

bool bool_field(const nlohmann::json& obj, const std::string& name) {
  if (!obj.contains(name)) throw Error(ErrorCode::invalid, "field '" + name + "' is missing");
  if (!obj[name].is_boolean()) throw Error(ErrorCode::invalid, "field '" + name + "' must be true or false");
  return obj[name].get<bool>();
}

void only_fields(const nlohmann::json& obj, std::initializer_list<const char*> allowed, const std::string& what) {
  for (const auto& [key, value] : obj.items()) {
    bool ok = false;
    for (const char* a : allowed) ok |= key == a;
    if (!ok) throw Error(ErrorCode::invalid, what + ": unknown field '" + key + "'");
  }
}

}  // namespace trellis::protocol
