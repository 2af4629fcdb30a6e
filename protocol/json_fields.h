#pragma once
// Typed fields of a JSON object, checked one by one; every failure is Error(invalid) naming the
// field ("field 'step' must be an integer"). Used by every from_json of the wire types
// (protocol/messages.h) and by the routes. Pure functions: thread-safe.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace trellis::protocol {

std::string string_field(const nlohmann::json& obj, const std::string& name);
// Absent or null: nullopt.
std::optional<std::string> optional_string_field(const nlohmann::json& obj, const std::string& name);
int64_t int_field(const nlohmann::json& obj, const std::string& name, int64_t min, int64_t max);
std::optional<int64_t> optional_int_field(const nlohmann::json& obj, const std::string& name, int64_t min, int64_t max);
bool bool_field(const nlohmann::json& obj, const std::string& name);
// Refuses any key not in `allowed`, naming it and `what` ("heartbeat: unknown field 'x'").
void only_fields(const nlohmann::json& obj, std::initializer_list<const char*> allowed, const std::string& what);

}  // namespace trellis::protocol
